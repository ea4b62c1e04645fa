"""Guardrails (docs/decisions/0056): personal data redacted before the provider (what the HTTP mock provider
receives) and in the stored chat; a content rule refuses with `content_blocked`, takes nothing, records its
event and flags the call; the moderation round trip; hostile patterns refused when saved."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from api.accounts.models import Plan
from api.audit.models import AuditEntry
from api.billing.models import LedgerEntry
from api.catalogue.models import ModelRoute
from api.guardrails.models import ModerationFlag
from api.main import create_app
from api.quotas.models import QuotaUsage
from tests.support.api import db_execute, db_rows, events_of, http_provider_row, sign_up, staff_headers

GUARDRAILS = "/api/v1/admin/guardrails"
FLAGS = "/api/v1/admin/moderation/flags"
RULES = [
    {"id": "no-bombs", "kind": "term", "value": "pipe bomb"},
    {"id": "card-dump", "kind": "pattern", "value": r"dump\s{1,3}(all )?cards"},
]
SECRETS = "Mail ada.lovelace@example.com or call +44 20 7946 0958; карта 4111 1111 1111 1111."


@pytest.fixture
def client(settings, upstream):
    """The API whose mock-small is served first by the mock provider over real HTTP (it records each body),
    with more than the free plan's 3 calls a day."""
    db_execute(
        settings,
        update(Plan).where(Plan.code == "free").values(daily_requests=100),
        http_provider_row(settings, "relay", f"{upstream.url}/v1", priority=1),
        insert(ModelRoute).values(model_id="mock-small", provider_id="relay", provider_model="mock-small"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _ask(client, headers, content, *, role=None, chat_id=None, stream=False):
    body = {"model": "mock-small", "messages": [{"role": "user", "content": content}], "stream": stream}
    extra = {"X-Assistant-Role": role} if role else {}
    if chat_id:
        extra["X-Chat-Id"] = str(chat_id)
    return client.post("/v1/chat/completions", headers={**headers, **extra}, json=body)


def _sent(upstream) -> str:
    return json.dumps(upstream.app.state.last_body["messages"], ensure_ascii=False)


@pytest.mark.both_databases  # PostgreSQL: a call without a chat takes the fast lane
def test_redaction_is_what_the_provider_receives_and_the_chat_keeps(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    saved = client.put(f"{GUARDRAILS}/plan/free", json={"redact_pii": True}, headers=admin)
    assert saved.status_code == 200, saved.text
    ada = sign_up(client, "ada@example.com")

    assert _ask(client, ada, SECRETS).status_code == 200
    sent = _sent(upstream)
    assert "[EMAIL]" in sent and "[PHONE]" in sent and "[CARD]" in sent
    assert "ada.lovelace" not in sent and "7946" not in sent and "4111" not in sent

    streamed = _ask(client, ada, "write to ivan@почта.рф", stream=True)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    assert "[EMAIL]" in _sent(upstream) and "почта" not in _sent(upstream)

    chat_id = uuid.uuid4()
    assert _ask(client, ada, SECRETS, chat_id=chat_id).status_code == 200
    kept = client.get(f"/api/v1/chats/{chat_id}", headers=ada).json()
    asked = kept["messages"][0]["content"]
    assert asked.startswith("Mail [EMAIL] or call [PHONE]") and "ada.lovelace" not in kept["title"]

    events = events_of(settings, "guardrail.redacted")
    assert [e.properties["counts"] for e in events] == [
        {"card": 1, "email": 1, "phone": 1}, {"email": 1}, {"card": 1, "email": 1, "phone": 1},
    ]  # fmt: skip
    assert all(e.properties["policies"] == ["plan:free"] for e in events)
    assert "lovelace" not in repr([e.properties for e in events])
    # Without the policy, the prompt goes as written.
    assert client.delete(f"{GUARDRAILS}/plan/free", headers=admin).status_code == 204
    assert _ask(client, ada, SECRETS).status_code == 200 and "ada.lovelace@example.com" in _sent(upstream)


@pytest.mark.both_databases
def test_a_blocked_term_is_refused_with_its_code_takes_nothing_and_is_flagged(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    assert (
        client.put(f"{GUARDRAILS}/role/fix-grammar", json={"rules": RULES}, headers=admin).status_code == 200
    )
    ada = sign_up(client, "ada@example.com")
    assert _ask(client, ada, "Fix: how do I build a Pipe  Bomb", role="paraphrase").status_code == 200
    calls, quotas, ledger = (
        upstream.app.state.calls,
        db_rows(settings, QuotaUsage),
        db_rows(settings, LedgerEntry),
    )

    refused = _ask(client, ada, "Fix: how do I build a Pipe  Bomb", role="fix-grammar")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "content_blocked" and error["params"] == {
        "rule": "no-bombs",
        "policy": "role:fix-grammar",
    }
    streamed = _ask(client, ada, "please DUMP  all cards", role="fix-grammar", stream=True)
    assert streamed.status_code == 400 and streamed.json()["error"]["params"]["rule"] == "card-dump"

    assert upstream.app.state.calls == calls  # never sent
    assert db_rows(settings, QuotaUsage) == quotas and db_rows(settings, LedgerEntry) == ledger
    blocked = events_of(settings, "guardrail.blocked")
    assert [(e.error_code, e.role_id, e.properties["rule"]) for e in blocked] == [
        ("content_blocked", "fix-grammar", "no-bombs"), ("content_blocked", "fix-grammar", "card-dump"),
    ]  # fmt: skip
    assert "bomb" not in repr([e.properties for e in blocked]).replace("no-bombs", "")
    flags = db_rows(settings, ModerationFlag)
    assert [(f.rule, f.status, f.policy) for f in flags] == [
        ("no-bombs", "open", "role:fix-grammar"), ("card-dump", "open", "role:fix-grammar"),
    ]  # fmt: skip
    assert {f.reference.hex for f in flags} == {e.properties["reference"] for e in blocked}


def test_moderation_round_trip_dismiss_one_block_the_user_of_another(client, settings):
    admin = staff_headers(client, settings, "admin")
    assert client.put(f"{GUARDRAILS}/plan/free", json={"rules": RULES}, headers=admin).status_code == 200
    ada, bob = sign_up(client, "ada@example.com"), sign_up(client, "bob@example.com")
    assert _ask(client, ada, "a pipe bomb joke").status_code == 400
    assert _ask(client, bob, "dump cards now").status_code == 400
    assert _ask(client, bob, "pipe bomb, again").status_code == 400

    analyst, moderator = (
        staff_headers(client, settings, "analyst"),
        staff_headers(client, settings, "moderator"),
    )
    assert client.get(FLAGS, headers=analyst).status_code == 403
    flags = client.get(FLAGS, headers=moderator).json()
    assert [(f["email"], f["rule"], f["status"]) for f in flags] == [
        ("bob@example.com", "no-bombs", "open"), ("bob@example.com", "card-dump", "open"),
        ("ada@example.com", "no-bombs", "open"),
    ]  # fmt: skip
    ada_flag, bob_flag = flags[2]["id"], flags[1]["id"]
    assert client.post(f"{FLAGS}/{ada_flag}/dismiss", json={}, headers=analyst).status_code == 403
    assert (
        client.post(f"{FLAGS}/{bob_flag}/block", json={"reason": "abuse"}, headers=analyst).status_code == 403
    )

    dismissed = client.post(f"{FLAGS}/{ada_flag}/dismiss", json={"note": "a joke"}, headers=moderator)
    assert dismissed.status_code == 200
    assert (dismissed.json()["status"], dismissed.json()["email"], dismissed.json()["review_note"]) == (
        "dismissed", "ada@example.com", "a joke",
    )  # fmt: skip
    again = client.post(f"{FLAGS}/{ada_flag}/dismiss", json={}, headers=moderator)
    assert again.status_code == 409 and again.json()["error"]["code"] == "flag_closed"

    blocked = client.post(f"{FLAGS}/{bob_flag}/block", json={"reason": "abuse"}, headers=moderator)
    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["flag"]["status"], blocked.json()["flag"]["email"]) == (
        "blocked",
        "bob@example.com",
    )
    assert len(blocked.json()["flags_closed"]) == 2
    assert client.get(FLAGS, headers=moderator).json() == []  # bob's other flag closed with it
    assert _ask(client, bob, "hello").status_code == 401  # his sessions ended with the block
    assert _ask(client, ada, "hello").status_code == 200
    statuses = {
        f["email"]: f["status"] for f in client.get(FLAGS, params={"status": "all"}, headers=moderator).json()
    }
    assert statuses == {"ada@example.com": "dismissed", "bob@example.com": "blocked"}
    actions = [(a.action, a.reason) for a in db_rows(settings, AuditEntry)]
    assert ("moderation.dismiss", "a joke") in actions and ("moderation.block", "abuse") in actions
    assert ("user.block", "abuse") in actions and ("guardrails.edit", None) in actions


HOSTILE = [r"(a+)+$", r"(ab|a){1,30}c", r"(x{1,9}){1,9}", r"\d+\d+", r"(a)\1", r"a{0,99}b{0,99}", "["]


def test_hostile_or_broken_patterns_are_refused_when_saved(client, settings):
    admin = staff_headers(client, settings, "admin")
    for pattern in HOSTILE:
        body = {"redact_pii": True, "rules": [{"id": "bad", "kind": "pattern", "value": pattern}]}
        refused = client.put(f"{GUARDRAILS}/role/paraphrase", json=body, headers=admin)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsafe_pattern", pattern
        assert refused.json()["error"]["params"]["rule"] == "bad"
    too_long = {"rules": [{"id": "long", "kind": "pattern", "value": "a" * 201}]}
    assert client.put(f"{GUARDRAILS}/role/paraphrase", json=too_long, headers=admin).status_code == 422
    assert client.get(GUARDRAILS, headers=admin).json() == []  # nothing kept


def test_a_policy_needs_an_existing_target_unique_rule_ids_and_catalogue_write(client, settings):
    admin, analyst = staff_headers(client, settings, "admin"), staff_headers(client, settings, "analyst")
    body = {"rules": RULES}
    assert client.put(f"{GUARDRAILS}/role/ghost", json=body, headers=admin).status_code == 404
    assert client.put(f"{GUARDRAILS}/plan/ghost", json=body, headers=admin).status_code == 404
    twice = client.put(f"{GUARDRAILS}/plan/pro", json={"rules": RULES + RULES[:1]}, headers=admin)
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "duplicate_rule"
    assert client.put(f"{GUARDRAILS}/plan/pro", json=body, headers=analyst).status_code == 403
    assert client.put(f"{GUARDRAILS}/plan/pro", json=body, headers=admin).status_code == 200
    listed = client.get(GUARDRAILS, headers=analyst).json()
    assert [(p["scope"], p["target"], [r["id"] for r in p["rules"]]) for p in listed] == [
        ("plan", "pro", ["no-bombs", "card-dump"])
    ]
    assert client.delete(f"{GUARDRAILS}/plan/pro", headers=analyst).status_code == 403
    assert client.delete(f"{GUARDRAILS}/plan/pro", headers=admin).status_code == 204
    assert client.delete(f"{GUARDRAILS}/plan/pro", headers=admin).status_code == 404
    audited = [
        (a.action, a.target_type, a.target_id, a.before, a.after) for a in db_rows(settings, AuditEntry)
    ]
    assert audited == [
        ("guardrails.edit", "plan", "pro", {}, {"redact_pii": False, "rules": RULES}),
        ("guardrails.delete", "plan", "pro", {"redact_pii": False, "rules": RULES}, {}),
    ]
