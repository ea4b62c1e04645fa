"""The Intents page (decision 0055), the whole way: requests stored in chats (one through the API, the
bilingual corpus of known topics behind its back over three days), one pipeline run (the intents asset, the
dbt marts and their tests, the publish), the warehouse's queries and the page in English and in Russian."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api import sign_up
from tests.support.intents import CORPUS, store_in_chats
from tests.support.russian import untranslated
from warehouse import queries


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_intents_page_shows_the_top_topics_their_trend_and_examples(panel, env_settings, pipeline):
    with httpx.Client(base_url=panel.api_url, timeout=60) as http:  # a request stored in a chat by the API
        headers = sign_up(http, "ada@example.com", env_settings)
        body = {"model": "mock-small", "messages": [{"role": "user", "content": "A recipe for rye bread?"}],
                "metadata": {"chat_id": str(uuid.uuid4())}}  # fmt: skip
        assert http.post("/v1/chat/completions", headers=headers, json=body).status_code == 200
        # A call that names no chat is not stored: not a request of the intents.
        plain = {"model": "mock-small", "messages": [{"role": "user", "content": "Tickets to Rome?"}]}
        assert http.post("/v1/chat/completions", headers=headers, json=plain).status_code == 200
    for days_ago, by_language in enumerate(CORPUS.values()):
        for language, texts in by_language.items():
            store_in_chats(
                env_settings, texts, days_ago=days_ago, role_id=None if language == "ru" else "chat"
            )
    store_in_chats(env_settings, ["Сколько стоит билет в Сочи?"], model_id=None)  # its call failed

    assert pipeline().success
    today = datetime.now(UTC).date()
    top = queries.intents(today - timedelta(days=29), today)
    assert top["requests"].sum() == 60 + 1 + 1 and top["share"].sum() == pytest.approx(1, abs=0.01)
    daily = queries.intents_daily(today - timedelta(days=29), today)
    assert set(daily["day"].dt.date) == {today - timedelta(days=d) for d in range(3)}
    assert daily["requests"].sum() == 62
    # The failed call's request has no model; the Russian chats and the API's (a call without a role) no role.
    assert queries.intents(role_id="(none)")["requests"].sum() == 31
    assert queries.intents(model_id="(none)")["requests"].sum() == 1
    examples = queries.intent_examples()
    assert set(examples["topic_id"]) == set(top["topic_id"])
    assert examples.groupby("topic_id").size().max() <= 5 and examples["snippet"].str.len().max() <= 200

    app = panel("intents", role="analyst")
    assert not app.exception and not app.error
    assert [t.value for t in app.title] == ["Intents"]
    assert {m.label: m.value for m in app.metric} == {"Requests": "62", "Topics": str(len(top))}
    shown = app.dataframe[0].value
    assert list(shown["Topic terms"]) == list(top["topic_name"]) and list(shown["Requests"]) == list(
        top["requests"]
    )
    assert len(app.get("vega_lite_chart")) == 2
    assert app.expander[0].label.startswith(f"Topic {top['topic_id'][0]}: {top['topic_name'][0]} (")
    first = examples.loc[examples["topic_id"] == top["topic_id"][0], "snippet"]
    assert [t.value for t in app.expander[0].text] == list(first)

    # Narrowed to a role or a model: the failed call's request alone has no model.
    (model,) = [box for box in app.selectbox if box.label == "Model"]
    assert model.options[0] == "All" and "(none)" in model.options
    model.set_value("(none)").run()
    assert not app.exception and {m.label: m.value for m in app.metric}["Requests"] == "1"
    assert queries.intent_dimensions()["requests"].sum() == 62

    russian = panel("intents", role="analyst", locale="ru")
    assert not russian.exception and [t.value for t in russian.title] == ["Темы запросов"]
    assert untranslated(russian) == []
