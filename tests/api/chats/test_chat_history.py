"""The history the portal shows: a search over the caller's chats (titles and messages) and the whole history
as one file (api/chats/router.py `list_chats` with `q`, `export_history`)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from api.chats.models import Chat, Message
from tests.support.api import db_execute, sign_up

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HEADER = ["chat_id", "chat_title", "created_at", "role", "model_id", "tokens", "content"]


def _chat(settings, client, headers, title: str, *contents: str, age_hours: int = 0) -> str:
    """A chat of the caller's, written straight into the database (as completions would keep it), its
    messages alternating user and assistant; the older, the further down the list."""
    owner = client.get("/api/v1/me", headers=headers).json()["id"]
    chat_id, at = uuid.uuid4(), T0 - timedelta(hours=age_hours)
    messages = [
        {"chat_id": chat_id, "role": ("user", "assistant")[n % 2], "content": text, "tokens": len(text),
         "model_id": "mock-small", "created_at": at + timedelta(seconds=n)}
        for n, text in enumerate(contents)
    ]  # fmt: skip
    chat = {"id": chat_id, "account_id": uuid.UUID(owner), "title": title, "message_count": len(contents)}
    statements = [insert(Chat).values(**chat, created_at=at, updated_at=at)]
    db_execute(settings, *statements, *([insert(Message).values(messages)] if messages else []))
    return str(chat_id)


@pytest.fixture
def histories(client, settings):
    """Ada's three chats and Bob's one, which says the same words as Ada's."""
    ada, bob = sign_up(client, "ada@example.com"), sign_up(client, "bob@example.com")
    chats = {
        "trip": _chat(settings, client, ada, "Trip to Paris", "Book a HOTEL near the Seine", "Done."),
        "bread": _chat(settings, client, ada, "Recipes", "100% rye bread", "use_less flour", age_hours=1),
        "taxes": _chat(settings, client, ada, "Taxes", r"save to C:\temp", "=1+1", age_hours=2),
        "bob": _chat(settings, client, bob, "Paris secrets", "hotel 100% rye use_less C:\\temp"),
    }
    return client, ada, bob, chats


def _found(client, headers, q: str) -> list[str]:
    answer = client.get("/api/v1/chats", headers=headers, params={"q": q})
    assert answer.status_code == 200, answer.text
    return [chat["id"] for chat in answer.json()]


def test_search_finds_titles_and_messages_in_any_case_and_only_the_callers(histories):
    client, ada, bob, chats = histories
    assert _found(client, ada, "paris") == [chats["trip"]]  # a title
    assert _found(client, ada, "hotel") == [chats["trip"]]  # a message, another case
    assert _found(client, ada, "FLOUR") == [chats["bread"]]
    assert _found(client, ada, "") == [chats["trip"], chats["bread"], chats["taxes"]]  # no filter
    assert _found(client, ada, "nowhere") == []
    assert _found(client, bob, "paris") == [chats["bob"]]


@pytest.mark.both_databases  # LIKE, its escape and lower() are each database's own
def test_search_takes_wildcards_and_hostile_text_literally(histories):
    client, ada, _, chats = histories
    assert _found(client, ada, "%") == [chats["bread"]]
    assert _found(client, ada, "_") == [chats["bread"]]
    assert _found(client, ada, "0%") == [chats["bread"]]
    assert _found(client, ada, "\\") == [chats["taxes"]]
    assert _found(client, ada, "C:\\t") == [chats["taxes"]]
    for hostile in ("r%d", "r_e", "%%", "/", "' OR 1=1 --", '"; DROP TABLE chats; --', "[a-z]*", "😀", "\\%"):
        assert _found(client, ada, hostile) == [], hostile
    too_long = client.get("/api/v1/chats", headers=ada, params={"q": "x" * 201})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "validation_error"
    assert len(_found(client, ada, "x" * 200)) == 0
    nul = client.get("/api/v1/chats?q=a%00b", headers=ada)  # refused at the door, before the route
    assert nul.status_code == 400 and nul.json()["error"]["code"] == "invalid_url"


def test_the_whole_history_exports_as_json_with_every_chat_and_message(histories):
    client, ada, bob, chats = histories
    answer = client.get("/api/v1/chats/export", headers=ada)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.headers["content-disposition"] == 'attachment; filename="chats.json"'
    history = json.loads(answer.text)
    assert [chat["id"] for chat in history] == [chats["trip"], chats["bread"], chats["taxes"]]
    assert [m["content"] for m in history[1]["messages"]] == ["100% rye bread", "use_less flour"]
    assert [m["role"] for m in history[0]["messages"]] == ["user", "assistant"]
    assert history[2]["title"] == "Taxes" and history[2]["message_count"] == 2
    assert "Paris secrets" not in answer.text and chats["bob"] not in answer.text
    assert [chat["id"] for chat in client.get("/api/v1/chats/export", headers=bob).json()] == [chats["bob"]]


def test_the_whole_history_exports_as_csv_a_row_per_message_with_no_formula(histories, settings):
    client, ada, _, chats = histories
    empty = _chat(settings, client, ada, "=cmd|' /C calc'!A0", age_hours=3)  # no messages yet
    answer = client.get("/api/v1/chats/export", headers=ada, params={"format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="chats.csv"'
    rows = list(csv.reader(io.StringIO(answer.text, newline="")))
    assert rows[0] == HEADER
    assert [(row[0], row[6]) for row in rows[1:]] == [
        (chats["trip"], "Book a HOTEL near the Seine"), (chats["trip"], "Done."),
        (chats["bread"], "100% rye bread"), (chats["bread"], "use_less flour"),
        (chats["taxes"], "save to C:\\temp"), (chats["taxes"], "'=1+1"),  # inert in a spreadsheet
        (empty, ""),
    ]  # fmt: skip
    assert rows[1][1] == "Trip to Paris" and rows[1][3] == "user" and rows[1][5] == "27"
    assert rows[-1][1] == "'=cmd|' /C calc'!A0" and rows[-1][2:] == [""] * 5
    assert "Paris secrets" not in answer.text and chats["bob"] not in answer.text


def test_an_empty_history_exports_as_valid_empty_files(client):
    carl = sign_up(client, "carl@example.com")
    as_json = client.get("/api/v1/chats/export", headers=carl)
    assert as_json.status_code == 200 and json.loads(as_json.text) == []
    as_csv = client.get("/api/v1/chats/export", headers=carl, params={"format": "csv"})
    assert list(csv.reader(io.StringIO(as_csv.text))) == [HEADER]
    assert client.get("/api/v1/chats/export").status_code == 401
    assert client.get("/api/v1/chats/export", headers=carl, params={"format": "xml"}).status_code == 422
