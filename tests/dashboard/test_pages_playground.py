"""The Playground page (docs/decisions/0058) as Streamlit runs it (AppTest), signed in as real staff against
a live API: a dialogue with an unsaved prompt shows the answer and its tokens, cost and latency; an edited
role prompt is tried as such and saved, behind a confirmation, as the role's next version with the rest of
the role kept; a role without catalogue:write is not offered the page's actions."""

from __future__ import annotations

import pytest

from tests.dashboard.test_pages_catalogue import admin_api, confirm
from tests.support.api import events_of

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_dialogue_shows_the_answer_with_its_figures_and_an_edited_prompt_saves_as_a_new_version(
    panel, env_settings
):
    app = panel("playground", role="admin")
    assert not app.exception and app.title[0].value == "Playground"
    app.text_area(key="playground:prompt::None").input("You answer in one short sentence.").run()
    app.chat_input(key="playground:say").set_value("What is a role?").run()
    assert not app.exception, app.exception
    assert [m.name for m in app.chat_message] == ["user", "assistant"]
    figures = {m.label: m.value for m in app.metric}
    assert (
        int(figures["Input tokens"]) > 0
        and figures["Provider"] == "mock"
        and figures["Latency"].endswith("ms")
    )
    (event,) = events_of(env_settings, "llm.call_succeeded")
    assert event.properties["staff_test"] is True and event.role_id is None

    # A role: its current version's prompt fills the box; edited, the dialogue goes on with the edit.
    with admin_api(panel) as staff:
        before = staff.get("/api/v1/admin/roles/shorten/versions").json()[-1]
    app.selectbox(key="playground:source").select("shorten").run()
    box = app.text_area(key=f"playground:prompt:shorten:{before['version']}")
    assert box.value == before["system_prompt"]
    box.input("Shorten the text to one line.").run()
    assert any("Edited" in c.value for c in app.caption)
    app.chat_input(key="playground:say").set_value("A long text to shorten.").run()
    assert [m.name for m in app.chat_message] == ["user", "assistant", "user", "assistant"]
    second = events_of(env_settings, "llm.call_succeeded")[-1]
    assert second.role_id is None and second.properties["staff_test"]  # an edit is an unsaved prompt

    confirm(app, "playground:save")
    assert not app.exception, app.exception
    with admin_api(panel) as staff:
        after = staff.get("/api/v1/admin/roles/shorten/versions").json()[-1]
    assert after["version"] == before["version"] + 1
    assert after["system_prompt"] == "Shorten the text to one line."
    kept = ("name", "default_model", "default_params", "enabled", "tool")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}  # a PUT replaces all: sent all


@sqlite_only
def test_staff_who_may_not_edit_roles_are_not_offered_the_playground(panel):
    app = panel("playground", role="analyst", locale="ru")
    assert not app.exception and app.title[0].value == "Песочница"
    assert app.info and "catalogue:write" in app.info[0].value
    assert not app.chat_input and not app.text_area
