"""The request explorer (`/api/v1/admin/calls`): every completion from its own usage event, a failed call
and a fallback with their provider attempts, keyset pages that hold still while calls arrive, and who may
read what (messages only with conversations:read, each read audited)."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from api.accounts.models import Plan
from api.catalogue.models import ModelRoute
from api.core.types import utcnow
from api.events.models import UsageEvent
from api.main import create_app
from tests.support.api import db_execute, http_provider_row, sign_up, staff_headers

CALLS = "/api/v1/admin/calls"


@pytest.fixture
def faulty(settings):
    """Faults on request (`metadata.mock`), and more than the free plan's 3 calls a day."""
    faulty = settings.model_copy(update={"mock_faults": True})
    db_execute(faulty, update(Plan).where(Plan.code == "free").values(daily_requests=100))
    return faulty


def _ask(client, headers, text="Hello", **metadata):
    body = {"model": "mock-small", "messages": [{"role": "user", "content": text}], "metadata": metadata}
    return client.post("/v1/chat/completions", headers=headers, json=body)


def test_a_failed_call_and_a_fallback_call_are_found_with_every_attempt(faulty, upstream):
    db_execute(
        faulty,
        http_provider_row(faulty, "down", f"{upstream.url}/v1", priority=1, headers={"X-Mock-Status": "503"}),
        insert(ModelRoute).values(model_id="mock-small", provider_id="down", provider_model="mock-small"),
    )
    with TestClient(create_app(faulty)) as client:
        ada = sign_up(client, "ada@example.com")
        chat_id = uuid.uuid4()
        answered = _ask(client, ada, "What is 2+2?", chat_id=str(chat_id))
        assert answered.status_code == 200, answered.text
        failed = _ask(client, ada, mock="fail")
        assert failed.status_code == 502, failed.text
        admin = staff_headers(client, faulty, "admin")

        listed = client.get(CALLS, headers=admin, params={"email": "ADA@example.com"}).json()
        newest, oldest = listed["items"]
        assert listed["next_before"] is None
        assert newest["outcome"] == "failed" and newest["status"] == "error" and newest["credits"] is None
        assert oldest["outcome"] == "succeeded" and oldest["provider"] == "mock"
        assert oldest["failed_attempts"] == 1 and oldest["input_tokens"] > 0

        fallback = client.get(f"{CALLS}/{oldest['id']}", headers=admin).json()
        assert fallback["attempts"] == [
            {"provider": "down", "error": "provider_503"},
            {"provider": "mock", "error": None},
        ]
        assert f"chatcmpl-{fallback['reference']}" == answered.json()["id"]
        assert fallback["chat_id"] == str(chat_id) and fallback["latency_ms"] is not None

        broken = client.get(f"{CALLS}/{newest['id']}", headers=admin).json()
        assert broken["attempts"] == [
            {"provider": "down", "error": "provider_503"},
            {"provider": "mock", "error": "mock_failure"},
        ]
        assert all(a["error"] for a in broken["attempts"]) and broken["error_code"]
        assert broken["request_id"] == failed.headers["X-Request-ID"]  # the error log's key
        assert broken["reference"] and broken["reference"] != fallback["reference"]

        only_failed = client.get(CALLS, headers=admin, params={"status": "error"}).json()["items"]
        assert [c["id"] for c in only_failed] == [newest["id"]]
        by_provider = client.get(CALLS, headers=admin, params={"provider": "down"}).json()["items"]
        assert by_provider == []  # a failed call names the last provider tried
        succeeded = client.get(CALLS, headers=admin, params={"status": "ok", "model": "mock-small"}).json()
        assert [c["id"] for c in succeeded["items"]] == [oldest["id"]]

        said = client.get(f"{CALLS}/{oldest['id']}/messages", headers=admin, params={"reason": "support"})
        assert said.status_code == 200 and said.json()["stored"] is True
        assert [m["role"] for m in said.json()["messages"]] == ["user", "assistant"]
        assert said.json()["messages"][0]["content"] == "What is 2+2?"
        assert said.json()["messages"][1]["content"] == answered.json()["choices"][0]["message"]["content"]
        nothing = client.get(f"{CALLS}/{newest['id']}/messages", headers=admin).json()
        assert nothing == {"stored": False, "messages": []}
        audit = client.get(
            "/api/v1/admin/audit", headers=admin, params={"action": "conversation.read"}
        ).json()
        assert len(audit) == 1 and audit[0]["after"]["call_id"] == oldest["id"]
        assert audit[0]["reason"] == "support" and audit[0]["target_id"] == str(chat_id)


def test_who_may_read_calls_and_their_messages(client, settings):
    ada = sign_up(client, "ada@example.com")
    assert _ask(client, ada, chat_id=str(uuid.uuid4())).status_code == 200
    analyst = staff_headers(client, settings, "analyst")
    viewer = staff_headers(client, settings, "viewer")
    moderator = staff_headers(client, settings, "moderator")
    (call,) = client.get(CALLS, headers=analyst).json()["items"]
    assert client.get(f"{CALLS}/{call['id']}", headers=analyst).status_code == 200
    # An analyst sees the calls but not what was said; a viewer not even the calls; a user nothing.
    assert (
        client.get(f"{CALLS}/{call['id']}/messages", headers=analyst).json()["error"]["code"] == "forbidden"
    )
    for path in ("", f"/{call['id']}", f"/{call['id']}/messages", "/export"):
        assert client.get(f"{CALLS}{path}", headers=viewer).status_code == 403, path
        assert client.get(f"{CALLS}{path}", headers=ada).status_code == 403, path
        assert client.get(f"{CALLS}{path}").status_code == 401, path
    assert client.get(f"{CALLS}/{call['id']}/messages", headers=moderator).json()["stored"] is True
    for unknown in (call["id"] + 1000, 2**63 - 1):
        for path in ("", "/messages"):
            response = client.get(f"{CALLS}/{unknown}{path}", headers=moderator)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get(f"{CALLS}/{2**63}", headers=moderator).status_code == 422
    assert client.get(f"{CALLS}/abc", headers=moderator).status_code == 422


def test_hostile_filter_text_matches_nothing_and_bad_filters_are_refused(client, settings):
    ada = sign_up(client, "ada@example.com")
    assert _ask(client, ada).status_code == 200
    admin = staff_headers(client, settings, "admin")
    for params in (
        {"email": "' OR 1=1 --"},
        {"model": "mock-small'; DROP TABLE usage_events; --"},
        {"provider": "%"},
        {"role": "_"},
        {"plan": "фри ☃"},
        {"error_code": "*"},
    ):
        answer = client.get(CALLS, headers=admin, params=params)
        assert answer.status_code == 200 and answer.json() == {"items": [], "next_before": None}, params
    assert len(client.get(CALLS, headers=admin).json()["items"]) == 1
    for params in (
        {"status": "weird"},
        {"model": "m" * 129},
        {"user_id": "not-a-uuid"},
        {"since": "yesterday"},
        {"before": 0},
        {"limit": 501},
    ):
        answer = client.get(CALLS, headers=admin, params=params)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_error", params
    nul = client.get(CALLS, headers=admin, params={"model": "a\x00b"})
    assert nul.status_code in (400, 422) and nul.json()["error"]["code"], nul.text


def _calls(settings, n: int, **fields) -> None:
    at = utcnow()
    rows = [
        {"event_id": uuid.uuid4(), "occurred_at": at, "type": "llm.call_succeeded", "model_id": "mock-small",
         "provider": "mock", "status": "ok", "properties": {}, **fields}
        for _ in range(n)
    ]  # fmt: skip
    db_execute(settings, insert(UsageEvent).values(rows))


@pytest.mark.both_databases
def test_pages_neither_repeat_nor_skip_a_call_while_calls_arrive(client, settings):
    admin = staff_headers(client, settings, "admin")
    _calls(settings, 7, plan="free")
    first = client.get(CALLS, headers=admin, params={"limit": 3, "plan": "free"}).json()
    seen = [c["id"] for c in first["items"]]
    before = first["next_before"]
    _calls(settings, 4, plan="free")  # newer calls arrive between pages
    while before is not None:
        page = client.get(CALLS, headers=admin, params={"limit": 3, "plan": "free", "before": before}).json()
        seen += [c["id"] for c in page["items"]]
        before = page["next_before"]
        _calls(settings, 1, plan="free")
    assert len(seen) == 7 == len(set(seen)) and seen == sorted(seen, reverse=True)
    everything = client.get(CALLS, headers=admin, params={"limit": 500, "plan": "free"}).json()["items"]
    assert len(everything) == 7 + 4 + 2  # the ones that came meanwhile are on the next first page


def test_calls_export_as_csv_and_xlsx_with_formulas_inert(client, settings):
    admin = staff_headers(client, settings, "admin")
    _calls(settings, 2, error_code='=HYPERLINK("x")', status="error", type="llm.call_failed")
    exported = client.get(f"{CALLS}/export", headers=admin, params={"status": "error"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2 and all(r["error_code"].startswith("'=") for r in rows)
    assert rows[0]["type"] == "llm.call_failed"
    xlsx = client.get(f"{CALLS}/export", headers=admin, params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # The rows carry users' emails: each export is in the audit log, with its filters and row count.
    taken = client.get("/api/v1/admin/audit", params={"action": "export.download"}, headers=admin).json()
    assert sorted((e["target_id"], e["after"]["format"], e["after"]["rows"]) for e in taken) == [
        ("calls", "csv", 2),
        ("calls", "xlsx", 2),
    ]
