"""The Moderation page (docs/decisions/0056) run by AppTest against a live API as real staff: the flags of
refused calls listed, one dismissed, the user of another blocked, each as the API then reports it; English
and Russian."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.test_pages_catalogue import admin_api, confirm, table
from tests.support.api import bearer, sign_up
from tests.support.russian import untranslated

FLAGS = "/api/v1/admin/moderation/flags"


def _refused_calls(panel, settings) -> None:
    """ada and bob each ask something a content rule of the free plan refuses."""
    with admin_api(panel) as admin:
        rules = [{"id": "no-bombs", "kind": "term", "value": "pipe bomb"}]
        assert admin.put("/api/v1/admin/guardrails/plan/free", json={"rules": rules}).status_code == 200
    with httpx.Client(base_url=panel.api_url, timeout=60) as http:
        for email in ("ada@example.com", "bob@example.com"):
            body = {"model": "mock-small", "messages": [{"role": "user", "content": "a pipe bomb"}]}
            refused = http.post("/v1/chat/completions", headers=sign_up(http, email, settings), json=body)
            assert refused.json()["error"]["code"] == "content_blocked"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_moderator_dismisses_one_flag_and_blocks_the_user_of_another(panel, env_settings):
    _refused_calls(panel, env_settings)
    app = panel("moderation", role="moderator")
    assert not app.exception
    assert [(r["User"], r["Rule"], r["Status"]) for r in table(app)] == [
        ("bob@example.com", "no-bombs", "open"), ("ada@example.com", "no-bombs", "open"),
    ]  # fmt: skip
    ada_flag, bob_flag = [r["Flag"] for r in table(app)][::-1]

    app.selectbox(key="moderation:chosen").select(ada_flag).run()
    app.text_input(key="moderation:reason").input("a joke").run()
    app = confirm(app, f"moderation:dismiss:{ada_flag}")
    assert f"Flag #{ada_flag} is dismissed." in [s.value for s in app.success]
    assert [r["User"] for r in table(app)] == ["bob@example.com"]

    assert app.button(key=f"moderation:block:{bob_flag}").disabled  # a reason first
    app.text_input(key="moderation:reason").input("abuse").run()
    app = confirm(app, f"moderation:block:{bob_flag}")
    assert any(s.value.startswith("bob@example.com is blocked") for s in app.success)
    moderator = panel.sessions["moderator"].token
    with httpx.Client(base_url=panel.api_url, headers=bearer(moderator)) as api:
        everything = api.get(FLAGS, params={"status": "all"}).json()
    assert {(f["email"], f["status"], f["review_note"]) for f in everything} == {
        ("ada@example.com", "dismissed", "a joke"), ("bob@example.com", "blocked", "abuse"),
    }  # fmt: skip

    russian = panel("moderation", role="moderator", locale="ru")
    assert not russian.exception and russian.title[0].value == "Модерация"
    assert russian.info and not untranslated(russian)  # no open flag left: the empty state


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_analyst_does_not_get_the_page_and_the_api_refuses_them(panel):
    app = panel("moderation", role="analyst")
    assert not app.exception and app.error  # the API's refusal, worded, not a crash
