"""Scoring a completion: `POST /v1/chat/completions/{id}/feedback` (docs/gateway.md, decision 0054)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from api.feedback.models import CompletionFeedback
from api.main import create_app
from tests.support.api import completion_body, db_rows, events_of, sign_up

HOSTILE = "'); DROP TABLE completion_feedback; -- <script>alert(1)</script> ‮ {{7*7}} %s \\ \" ПРИВЕТ"


def _feedback(completion_id: str) -> str:
    return f"/v1/chat/completions/{completion_id}/feedback"


def _scores(settings) -> list:
    return events_of(settings, "feedback.given")


@pytest.mark.both_databases  # the fast lane writes the call's event (and its role version) on PostgreSQL
def test_an_app_scores_its_completion_with_its_api_key_and_the_event_names_the_calls_model_role_and_plan(
    live_server, settings
):
    with httpx.Client(base_url=live_server.url) as http:
        ada = sign_up(http, "ada@example.com", settings)
        key = http.post("/api/v1/me/api-keys", headers=ada, json={"name": "app"}).json()["key"]
        client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
        completion = client.chat.completions.create(
            model="mock-small", messages=[{"role": "user", "content": "me goes home"}],
            metadata={"role": "fix-grammar"},
        )  # fmt: skip
        as_app = {"Authorization": f"Bearer {key}"}

        first = http.post(_feedback(completion.id), headers=as_app, json={"rating": "up", "comment": HOSTILE})
        again = http.post(_feedback(completion.id), headers=as_app, json={"rating": "up", "comment": HOSTILE})
        changed = http.post(_feedback(completion.id), headers=ada, json={"value": 2})

    assert first.status_code == again.status_code == changed.status_code == 200, first.text
    assert first.json()["completion_id"] == completion.id
    assert (first.json()["rating"], first.json()["value"], first.json()["comment"]) == ("up", None, HOSTILE)
    assert (changed.json()["rating"], changed.json()["value"], changed.json()["comment"]) == (None, 2, None)
    assert changed.json()["created_at"] == first.json()["created_at"]
    [row] = db_rows(settings, CompletionFeedback)  # one row per completion: the latest score
    assert (row.rating, row.value, row.comment) == (None, 2, None)
    [call] = events_of(settings, "llm.call_succeeded")
    assert call.properties["role_version"] == 1  # the seeded role, never edited
    # The same score again changed nothing and wrote nothing: two events, the first and the change of mind.
    events = _scores(settings)
    assert [(e.properties["rating"], e.properties["value"]) for e in events] == [("up", None), (None, 2)]
    for event in events:
        assert (event.user_id, event.model_id, event.role_id, event.provider, event.plan) == (
            call.user_id, "mock-small", "fix-grammar", "mock", "free",
        )  # fmt: skip
        assert event.properties["completion_id"] == completion.id.removeprefix("chatcmpl-")
        assert event.properties["role_version"] == 1
        assert HOSTILE not in str(event.properties)  # the comment stays in the OLTP row, never an event
    assert [e.properties["commented"] for e in events] == [True, False]


def test_another_users_a_failed_and_an_unknown_completion_are_all_404(settings):
    with TestClient(create_app(settings.model_copy(update={"mock_faults": True}))) as client:
        ada, bob = sign_up(client, "ada@example.com"), sign_up(client, "bob@example.com")
        adas = client.post("/v1/chat/completions", headers=ada, json=completion_body()).json()["id"]
        failed = client.post(
            "/v1/chat/completions", headers=ada, json={**completion_body(), "metadata": {"mock": "fail"}}
        )
        assert failed.status_code == 502
        [failure] = events_of(settings, "llm.call_failed")
        for headers, completion_id in (
            (bob, adas),  # someone else's completion looks as if it did not exist
            (ada, f"chatcmpl-{failure.properties['reference']}"),  # a call that failed has nothing to score
            (ada, f"chatcmpl-{uuid.uuid4().hex}"),
            (ada, "chatcmpl-not-hex"),
            (ada, adas.removeprefix("chatcmpl-")),
        ):
            refused = client.post(_feedback(completion_id), headers=headers, json={"rating": "down"})
            assert refused.status_code == 404, (completion_id, refused.text)
            assert refused.json()["error"]["code"] == "completion_not_found"
        assert client.post(_feedback(adas), json={"rating": "up"}).status_code == 401
    assert db_rows(settings, CompletionFeedback) == [] and _scores(settings) == []


BAD = [
    {},  # no score
    {"rating": "up", "value": 5},  # both
    {"rating": "meh"},
    {"rating": None, "value": None},
    {"value": 0},
    {"value": 6},
    {"value": 4.5},
    {"value": "5"},
    {"value": True},
    {"rating": "up", "comment": "x" * 2001},
    {"rating": "up", "comment": "a\x00b"},
    {"rating": "up", "stars": 5},  # unknown field
]


def test_bad_payloads_are_422_validation_error_and_a_score_past_the_minutes_limit_429(settings):
    with TestClient(create_app(settings.model_copy(update={"feedback_per_minute": 2}))) as client:
        ada = sign_up(client, "ada@example.com")
        adas = client.post("/v1/chat/completions", headers=ada, json=completion_body()).json()["id"]
        for body in BAD:
            refused = client.post(_feedback(adas), headers=ada, json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.json()["error"]["code"] == "validation_error", body
        assert db_rows(settings, CompletionFeedback) == []
        longest = client.post(_feedback(adas), headers=ada, json={"value": 5, "comment": "é" * 2000})
        assert longest.status_code == 200 and longest.json()["comment"] == "é" * 2000
        # Refused bodies are not counted (FastAPI refuses them before the route); scores and 404s are.
        assert (
            client.post(_feedback(f"chatcmpl-{uuid.uuid4().hex}"), headers=ada, json={"value": 1}).status_code
            == 404
        )
        over = client.post(_feedback(adas), headers=ada, json={"value": 1})
        assert over.status_code == 429 and over.json()["error"]["code"] == "too_many_requests"
        assert int(over.headers["Retry-After"]) >= 1
    [row] = db_rows(settings, CompletionFeedback)
    assert row.value == 5


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_burst_of_the_same_score_leaves_one_row_and_one_event(live_server, settings):
    with httpx.Client(base_url=live_server.url) as http:
        ada = sign_up(http, "ada@example.com", settings)
        adas = http.post("/v1/chat/completions", headers=ada, json=completion_body()).json()["id"]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            answers = await asyncio.gather(
                *(http.post(_feedback(adas), headers=ada, json={"rating": "down"}) for _ in range(12))
            )
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 12
    assert len(db_rows(settings, CompletionFeedback)) == 1
    assert len(_scores(settings)) == 1
