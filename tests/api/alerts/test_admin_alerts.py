"""`/api/v1/admin/alerts`: rules on error rate, p95 latency, spend and provider failures fire once on
ok → firing and resolve on firing → ok, to a real webhook server or a real SMTP server, with a history
staff can filter and export; every change is audited and a transition fires once however many replicas
evaluate at the same time."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.alerts.models import AlertRule
from api.alerts.service import HISTORY_COLUMNS, evaluate_due, evaluate_rule
from api.core.db import Database, make_sync_engine
from api.core.types import utcnow
from api.events.outbox import RequestContext, record
from api.events.types import EventType
from api.main import create_app
from tests.support.api import (
    completion_body,
    db_execute,
    free_port,
    http_provider_row,
    sign_up,
    staff_headers,
)

ALERTS = "/api/v1/admin/alerts"
RULES = f"{ALERTS}/rules"


# --- real parts: a webhook receiver, an SMTP server ---------------------------------------------------


class WebhookServer(ThreadingHTTPServer):
    """Takes webhook POSTs on loopback (127.0.0.1, the address the tests allow the API to call, unless
    told another); a path under /fail answers 500."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _WebhookHandler)
        self.received: list[dict[str, Any]] = []
        self.port = self.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if r["path"] == path]


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append(
            {"path": self.path, "body": body, "content_type": self.headers["Content-Type"]}
        )
        self.send_response(500 if self.path.startswith("/fail") else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def serving(server: WebhookServer) -> Iterator[WebhookServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    with serving(WebhookServer()) as server:
        yield server


# --- helpers ------------------------------------------------------------------------------------------


def add_calls(settings, *calls: tuple[EventType, dict[str, Any]]) -> None:
    """LLM calls as the gateway records them: usage events through the outbox, one transaction."""
    engine = make_sync_engine(settings)
    try:
        with Session(engine) as session:
            for type_, fields in calls:
                fields = {"at": utcnow(), "provider": "mock", "model_id": "mock-small", **fields}
                record(session, type_, ctx=RequestContext(), **fields)
            session.commit()
    finally:
        engine.dispose()


def ok(**fields) -> tuple[EventType, dict[str, Any]]:
    return EventType.LLM_CALL_SUCCEEDED, {"status": "ok", **fields}


def failed(**fields) -> tuple[EventType, dict[str, Any]]:
    return EventType.LLM_CALL_FAILED, {"status": "error", "error_code": "mock_failure", **fields}


def evaluate_at(settings, at: datetime, *, force: bool = True):
    """What a replica's alerts job does, at a chosen time."""

    async def run():
        db = Database(settings)
        try:
            return await evaluate_due(db.sessionmaker, settings, None, at, force=force)
        finally:
            await db.dispose()

    return asyncio.run(run())


def rule_body(name: str, metric: str, threshold: float, target: str, **extra) -> dict[str, Any]:
    channel = "email" if "@" in target and "://" not in target else "webhook"
    return {
        "name": name, "metric": metric, "threshold": threshold, "window_minutes": 5, "channel": channel,
        "target": target, **extra,
    }  # fmt: skip


def create(client, admin, body) -> dict[str, Any]:
    response = client.post(RULES, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def history(client, headers, **params) -> dict[str, Any]:
    response = client.get(f"{ALERTS}/history", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- rules: CRUD, permissions, validation -------------------------------------------------------------


def test_an_admin_creates_edits_and_deletes_a_rule_and_each_change_is_audited(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    analyst = staff_headers(client, settings, "analyst")  # health:read: may look
    secret_hook = f"{webhook.url}/services/T0/B0/s3cr3t-token-wxyz"
    created = create(client, admin, rule_body("High error rate", "error_rate", 0.2, secret_hook))
    rule_id = created["id"]
    assert created["state"] == "ok" and created["enabled"] is True and created["threshold"] == 0.2
    assert created["target"] == f"{webhook.url}/…wxyz"  # a webhook URL carries its credential: masked
    listed = client.get(RULES, headers=analyst)
    assert listed.status_code == 200 and [r["name"] for r in listed.json()] == ["High error rate"]
    assert "s3cr3t" not in listed.text

    edited = client.patch(f"{RULES}/{rule_id}", json={"threshold": 0.5, "enabled": False}, headers=admin)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["threshold"], edited.json()["enabled"]) == (0.5, False)
    assert edited.json()["target"] == created["target"]  # untouched when not sent
    shown = client.get(f"{RULES}/{rule_id}", headers=analyst).json()
    assert (shown["threshold"], shown["enabled"], shown["name"]) == (0.5, False, "High error rate")

    deleted = client.delete(f"{RULES}/{rule_id}", headers=admin)
    assert deleted.status_code == 204
    gone = client.get(f"{RULES}/{rule_id}", headers=analyst)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "alert_rule_not_found"

    trail = client.get(
        "/api/v1/admin/audit", params={"target_type": "alert_rule", "target_id": str(rule_id)}, headers=admin
    ).json()
    assert [t["action"] for t in trail] == ["alert_rule.delete", "alert_rule.update", "alert_rule.create"]
    assert all(t["actor_email"] == "admin@example.com" and t["ip"] and t["request_id"] for t in trail)
    delete, update, create_ = trail
    assert create_["before"] == {} and create_["after"]["metric"] == "error_rate"
    assert create_["after"]["target"] == created["target"]  # masked in the audit log too
    assert (update["before"]["threshold"], update["after"]["threshold"]) == (0.2, 0.5)
    assert (update["before"]["enabled"], update["after"]["enabled"]) == (True, False)
    assert delete["before"]["name"] == "High error rate" and delete["after"] == {}
    assert "s3cr3t" not in json.dumps(trail)


def test_staff_without_alerts_write_are_refused_and_unknown_rules_are_404(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    rule = create(client, admin, rule_body("Slow", "p95_latency_ms", 2000, f"{webhook.url}/hook"))
    body = rule_body("Mine", "spend_usd", 10, f"{webhook.url}/hook")
    for role in ("moderator", "analyst"):
        staff = staff_headers(client, settings, role)
        for method, url, kwargs in (
            ("POST", RULES, {"json": body}),
            ("PATCH", f"{RULES}/{rule['id']}", {"json": {"threshold": 1}}),
            ("DELETE", f"{RULES}/{rule['id']}", {}),
            ("POST", f"{ALERTS}/evaluate", {}),
        ):
            refused = client.request(method, url, headers=staff, **kwargs)
            assert refused.status_code == 403, (role, method, url)
            assert refused.json()["error"]["code"] == "forbidden"
    ada = sign_up(client, "ada@example.com")
    assert client.get(RULES, headers=ada).status_code == 403  # an end user has no health:read
    assert client.get(f"{ALERTS}/history", headers=ada).status_code == 403
    assert client.get(RULES).status_code == 401

    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"threshold": 1}}), ("DELETE", {})):
        missing = client.request(method, f"{RULES}/999999", headers=admin, **kwargs)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "alert_rule_not_found"
    assert client.get(RULES, headers=admin).json()[0]["threshold"] == 2000  # nothing changed
    audit = client.get("/api/v1/admin/audit", params={"target_type": "alert_rule"}, headers=admin).json()
    assert [a["action"] for a in audit] == ["alert_rule.create"]


@pytest.mark.both_databases  # a taken name: the unique constraint's error
def test_bad_rules_are_refused_with_422_and_a_taken_name_with_409(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    db_execute(settings, http_provider_row(settings, "backup", "http://127.0.0.1:9/v1", priority=50))
    hook = f"{webhook.url}/hook"
    good = rule_body("Spend per day", "spend_usd", 25, hook, window_minutes=1440)
    bad_bodies = [
        {**good, "colour": "red"},  # unknown field
        {**good, "target": "ftp://example.com/hook"},
        {**good, "target": "javascript:alert(1)"},
        {**good, "target": "http://"},
        {**good, "channel": "email", "target": "ops@"},
        {**good, "channel": "email", "target": "not an address"},
        {**good, "channel": "sms"},
        {**good, "metric": "cpu"},
        {**good, "metric": "error_rate", "threshold": 1.5},  # a rate is 0..1
        {**good, "threshold": -1},
        {**good, "threshold": 0.0000001},  # finer than the stored six places
        {**good, "threshold": "NaN"},
        {**good, "window_minutes": 0},
        {**good, "window_minutes": 7 * 24 * 60 + 1},
        {**good, "repeat_minutes": 0},
        {**good, "name": "   "},
        {**good, "name": "x" * 101},
        {**good, "name": "nul\x00"},
        {**good, "provider": "Not A Provider!"},
        {key: value for key, value in good.items() if key != "target"},
        [good],
    ]
    for body in bad_bodies:
        refused = client.post(RULES, json=body, headers=admin)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] == "validation_error", body
    unknown = client.post(RULES, json={**good, "provider": "nowhere"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_provider"
    assert client.get(RULES, headers=admin).json() == []

    rule = create(client, admin, {**good, "provider": "backup"})
    assert rule["provider"] == "backup" and rule["window_minutes"] == 1440
    taken = client.post(RULES, json={**good, "name": "Spend per day"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "alert_rule_exists"
    other = create(client, admin, {**good, "name": "Other", "channel": "email", "target": "Ops@Example.com"})
    assert other["target"] == "ops@example.com"
    renamed = client.patch(f"{RULES}/{other['id']}", json={"name": "Spend per day"}, headers=admin)
    assert renamed.status_code == 409

    url = f"{RULES}/{rule['id']}"
    for patch in (
        {"channel": "email"},  # the webhook URL is no email address: the rule made is checked whole
        {"metric": "error_rate"},  # a threshold of 25 is no rate
        {"name": None},
        {"threshold": None},
        {"state": "ok"},  # not a field one sets
        {"window_minutes": "soon"},
    ):
        refused = client.patch(url, json=patch, headers=admin)
        assert refused.status_code == 422, patch
        assert refused.json()["error"]["code"] in ("validation_error", "invalid_alert_rule"), patch
    switched = client.patch(url, json={"channel": "email", "target": "oncall@example.com"}, headers=admin)
    assert switched.status_code == 200 and switched.json()["target"] == "oncall@example.com"
    cleared = client.patch(url, json={"provider": None, "repeat_minutes": 30}, headers=admin)
    assert (cleared.json()["provider"], cleared.json()["repeat_minutes"]) == (None, 30)
    for path in (f"{RULES}/0", f"{RULES}/abc", f"{RULES}/{2**63}"):
        assert client.get(path, headers=admin).status_code == 422
    # (a naive time is UTC, as on every time filter: tests/reliability/test_bad_input.py)
    bad = ({"since": "0001-01-01T00:00:00+00:01"}, {"kind": "exploded"}, {"limit": 0}, {"rule_id": -1})
    for params in bad:
        assert client.get(f"{ALERTS}/history", params=params, headers=admin).status_code == 422, params
    assert client.get(f"{ALERTS}/history/export", params={"format": "pdf"}, headers=admin).status_code == 422


# --- evaluation ---------------------------------------------------------------------------------------


@pytest.mark.both_databases  # time windows in SQL
def test_error_rate_rule_fires_once_from_real_failed_calls_then_resolves(settings, webhook):
    with TestClient(create_app(settings.model_copy(update={"mock_faults": True}))) as client:
        ada = sign_up(client, "ada@example.com")
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
        failing = {**completion_body(), "metadata": {"mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=ada, json=failing).status_code == 502
        admin = staff_headers(client, settings, "admin")
        rule = create(client, admin, rule_body("Errors", "error_rate", 0.3, f"{webhook.url}/hook"))

        first = client.post(f"{ALERTS}/evaluate", headers=admin)
        assert first.status_code == 200, first.text
        assert first.json()["evaluated"] == 1
        (fired,) = first.json()["events"]
        assert (fired["rule_id"], fired["kind"], fired["value"], fired["threshold"]) == (
            rule["id"],
            "fired",
            0.5,
            0.3,
        )
        assert (
            fired["delivery_status"] == "sent" and fired["delivered_at"] and fired["delivery_error"] is None
        )
        (hook,) = webhook.received
        assert hook["content_type"].startswith("application/json")
        payload = hook["body"]
        assert payload["kind"] == "fired" and payload["state"] == "firing" and payload["id"] == fired["id"]
        assert payload["value"] == 0.5 and payload["threshold"] == 0.3
        assert payload["rule"] == {
            "id": rule["id"], "name": "Errors", "metric": "error_rate", "provider": None, "window_minutes": 5,
            "threshold": 0.3,
        }  # fmt: skip
        assert "FIRING" in payload["text"] and "Errors" in payload["text"]
        shown = client.get(f"{RULES}/{rule['id']}", headers=admin).json()
        assert shown["state"] == "firing" and shown["last_value"] == 0.5 and shown["last_notified_at"]

        again = client.post(f"{ALERTS}/evaluate", headers=admin).json()
        assert again["evaluated"] == 1 and again["events"] == []  # still firing: no second alert
        assert len(webhook.received) == 1

        audit = client.get("/api/v1/admin/audit", params={"action": "alert.evaluate"}, headers=admin).json()
        assert [a["after"]["events"] for a in audit] == [
            [],
            [{"id": fired["id"], "rule_id": rule["id"], "kind": "fired"}],
        ]
        assert all(a["actor_email"] == "admin@example.com" and a["request_id"] and a["ip"] for a in audit)

        later = evaluate_at(settings, utcnow() + timedelta(minutes=6))  # the failure left the window
        assert later.evaluated == 1 and len(later.event_ids) == 1
        assert [b["kind"] for b in webhook.bodies()] == ["fired", "resolved"]
        resolved = webhook.bodies()[1]
        assert resolved["state"] == "ok" and resolved["value"] == 0 and "RESOLVED" in resolved["text"]
        assert client.get(f"{RULES}/{rule['id']}", headers=admin).json()["state"] == "ok"
        kinds = [e["kind"] for e in history(client, admin, rule_id=rule["id"])["items"]]
        assert kinds == ["resolved", "fired"]


@pytest.mark.both_databases  # p95: percentile_disc on PostgreSQL, in Python on SQLite
def test_each_metric_fires_from_its_own_figure_and_only_above_its_threshold(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    db_execute(settings, http_provider_row(settings, "backup", "http://127.0.0.1:9/v1", priority=50))
    now = utcnow()
    add_calls(
        settings,
        # p95 of 100..2000 ms (decision 0042): nearest rank 19 of 20 is 1900 ms, in the 5% bucket up to 1925
        *(ok(latency_ms=100 * i, cost_usd="0.5") for i in range(1, 21)),
        ok(latency_ms=50, cost_usd="3", at=now - timedelta(hours=2)),  # in the day, not in 5 minutes
        ok(latency_ms=99_999, cost_usd="1000", at=now - timedelta(days=2)),  # in no window
        *(failed(provider="backup") for _ in range(3)),
        failed(provider="mock", latency_ms=60_000),  # a failure is an error, not a latency: p95 stays
    )
    hook = f"{webhook.url}/hook"
    failures = "provider_failures"
    rules = {
        # name: (body, fires?, figure)
        "p95": (rule_body("p95", "p95_latency_ms", 1900, hook), True, 1925),
        "p95 calm": (rule_body("p95 calm", "p95_latency_ms", 1925, hook), False, 1925),  # not above
        "spend": (rule_body("spend", "spend_usd", 12.5, hook, window_minutes=1440), True, 13),
        "spend 5m": (rule_body("spend 5m", "spend_usd", 10, hook), False, 10),
        "backup failures": (rule_body("backup failures", failures, 2, hook, provider="backup"), True, 3),
        "all failures": (rule_body("all failures", failures, 3, hook), True, 4),
        "mock failures": (rule_body("mock failures", failures, 1, hook, provider="mock"), False, 1),
        "error rate": (rule_body("error rate", "error_rate", 0.15, hook), True, round(4 / 24, 6)),
    }  # fmt: skip
    ids = {name: create(client, admin, body)["id"] for name, (body, _fires, _figure) in rules.items()}

    result = client.post(f"{ALERTS}/evaluate", headers=admin).json()
    assert result["evaluated"] == len(rules)
    fired = {e["rule_name"]: e for e in result["events"]}
    assert set(fired) == {name for name, (_b, fires, _f) in rules.items() if fires}
    assert all(e["kind"] == "fired" and e["delivery_status"] == "sent" for e in fired.values())
    shown = {r["name"]: r for r in client.get(RULES, headers=admin).json()}
    for name, (_body, fires, figure) in rules.items():
        assert shown[name]["last_value"] == pytest.approx(figure), name
        assert shown[name]["state"] == ("firing" if fires else "ok"), name
        assert shown[name]["id"] == ids[name]
    received = {b["rule"]["name"]: b for b in webhook.bodies()}
    assert set(received) == set(fired)
    assert (
        received["backup failures"]["rule"]["provider"] == "backup"
        and received["backup failures"]["value"] == 3
    )

    assert client.post(f"{ALERTS}/evaluate", headers=admin).json()["events"] == []  # all still as they were
    assert len(webhook.received) == len(fired)


@pytest.mark.both_databases  # time windows in SQL
def test_a_rule_repeats_while_firing_only_as_often_as_asked_and_can_resolve_quietly(
    client, settings, webhook
):
    admin = staff_headers(client, settings, "admin")
    add_calls(settings, failed(), failed())
    loud = create(
        client, admin, rule_body("loud", "provider_failures", 1, f"{webhook.url}/hook", repeat_minutes=2)
    )
    quiet = create(
        client,
        admin,
        rule_body("quiet", "provider_failures", 1, f"{webhook.url}/quiet", notify_resolved=False),
    )
    start = utcnow()
    assert evaluate_at(settings, start).evaluated == 2
    assert evaluate_at(settings, start + timedelta(seconds=1), force=False).evaluated == 0  # not due yet
    evaluate_at(settings, start + timedelta(minutes=1))  # still firing, a repeat not due yet
    evaluate_at(settings, start + timedelta(minutes=5, seconds=1))  # the calls have left the 5-minute window
    assert [b["kind"] for b in webhook.bodies("/hook")] == ["fired", "resolved"]
    assert [b["kind"] for b in webhook.bodies("/quiet")] == ["fired"]  # resolved, but not told
    quiet_history = history(client, admin, rule_id=quiet["id"])["items"]
    assert [(e["kind"], e["delivery_status"]) for e in quiet_history] == [
        ("resolved", "skipped"),
        ("fired", "sent"),
    ]

    add_calls(settings, failed(at=start + timedelta(minutes=20)), failed(at=start + timedelta(minutes=20)))
    for minutes in (20, 21, 22.5, 23):
        evaluate_at(settings, start + timedelta(minutes=minutes))
    kinds = [b["kind"] for b in webhook.bodies("/hook")]
    assert kinds == ["fired", "resolved", "fired", "repeated"]  # repeated at 22.5: 2 minutes after 20
    assert history(client, admin, rule_id=loud["id"], kind="repeated")["total"] == 1


def test_a_webhook_that_is_down_is_recorded_as_failed_and_the_other_rules_still_fire(
    client, settings, webhook
):
    admin = staff_headers(client, settings, "admin")
    add_calls(settings, failed(), failed())
    down = create(
        client, admin, rule_body("down", "provider_failures", 1, f"http://127.0.0.1:{free_port()}/x")
    )
    broken = create(client, admin, rule_body("broken", "provider_failures", 1, f"{webhook.url}/fail"))
    up = create(client, admin, rule_body("up", "provider_failures", 1, f"{webhook.url}/hook"))

    result = client.post(f"{ALERTS}/evaluate", headers=admin)
    assert result.status_code == 200
    events = {e["rule_id"]: e for e in result.json()["events"]}
    assert set(events) == {down["id"], broken["id"], up["id"]}
    assert events[down["id"]]["delivery_status"] == "failed" and events[down["id"]]["delivered_at"] is None
    assert "Connect" in events[down["id"]]["delivery_error"]
    assert (events[broken["id"]]["delivery_status"], events[broken["id"]]["delivery_error"]) == (
        "failed",
        "HTTP 500 Internal Server Error",
    )
    assert events[up["id"]]["delivery_status"] == "sent"
    assert [b["rule"]["name"] for b in webhook.bodies()] == ["up"]
    listed = {e["rule_name"]: e for e in history(client, admin)["items"]}
    assert (listed["down"]["delivery_status"], listed["up"]["delivery_status"]) == ("failed", "sent")
    states = {r["name"]: r["state"] for r in client.get(RULES, headers=admin).json()}
    assert states == {"down": "firing", "broken": "firing", "up": "firing"}  # a failed send fires once too


def test_a_webhook_on_the_metadata_service_loopback_or_the_lan_is_refused_when_saved(
    client, settings, webhook, dns
):
    dns.names["hooks.example.test"] = "10.1.2.3"
    admin = staff_headers(client, settings, "admin")
    targets = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # the cloud metadata service
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://127.0.0.2:8080/hook",  # loopback, but not the allowed 127.0.0.1
        "http://[::1]/hook",
        "http://192.168.0.10/hook",
        "http://hooks.example.test/hook",  # a name that resolves to the LAN
    ]
    for target in targets:
        refused = client.post(RULES, json=rule_body("sneaky", "spend_usd", 1, target), headers=admin)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "address_not_allowed"), target
    hook = create(
        client, admin, rule_body("hook", "spend_usd", 1, f"{webhook.url}/hook")
    )  # 127.0.0.1: allowed
    mail = create(client, admin, rule_body("mail", "spend_usd", 1, "ops@example.com"))
    for rule, change in (
        (hook, {"target": targets[0]}),
        (mail, {"channel": "webhook", "target": targets[0]}),
    ):
        moved = client.patch(f"{RULES}/{rule['id']}", json=change, headers=admin)
        assert (moved.status_code, moved.json()["error"]["code"]) == (400, "address_not_allowed")
    assert client.patch(f"{RULES}/{hook['id']}", json={"threshold": 2}, headers=admin).status_code == 200
    assert {r["name"]: r["channel"] for r in client.get(RULES, headers=admin).json()} == {
        "hook": "webhook",
        "mail": "email",
    }


def test_a_webhook_whose_name_resolves_elsewhere_when_sent_is_refused_before_anything_is_sent(
    client, settings, dns
):
    """DNS rebinding: the name was public when the rule was saved; when the alert fires it resolves to a
    service on the server's loopback. Nothing is sent there; the history says why."""
    dns.names["hooks.example.test"] = "93.184.216.34"
    admin = staff_headers(client, settings, "admin")
    add_calls(settings, failed(), failed())
    with serving(WebhookServer(host="127.0.0.2")) as internal:
        url = f"http://hooks.example.test:{internal.port}/hook"
        create(client, admin, rule_body("rebound", "provider_failures", 1, url))
        dns.names["hooks.example.test"] = "127.0.0.2"
        result = client.post(f"{ALERTS}/evaluate", headers=admin)
        assert result.status_code == 200
        (event,) = result.json()["events"]
        assert event["delivery_status"] == "failed" and event["delivered_at"] is None
        assert "127.0.0.2 is a loopback address" in event["delivery_error"]
        assert internal.received == []


def test_an_email_alert_reaches_a_real_smtp_server(settings, smtp_server):
    controller, inbox = smtp_server
    smtp = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_starttls": False}
    )
    with TestClient(create_app(smtp)) as client:
        admin = staff_headers(client, settings, "admin")
        add_calls(settings, ok(cost_usd="30"), ok(cost_usd="25.5"))
        rule = create(
            client, admin, rule_body("Spend per day", "spend_usd", 50, "Ops@Example.com", window_minutes=1440)
        )
        (event,) = client.post(f"{ALERTS}/evaluate", headers=admin).json()["events"]
        assert (event["kind"], event["channel"], event["value"]) == ("fired", "email", 55.5)
        assert event["delivery_status"] == "sent" and event["delivered_at"]
        (mail,) = [m for m in inbox.messages if m.rcpt_tos == ["ops@example.com"]]
        text = mail.content.decode()
        assert "Subject: [aiadmin] Alert: Spend per day" in text
        assert "spend_usd is 55.5, above 50" in text
        (listed,) = history(client, admin, rule_id=rule["id"])["items"]
        assert listed["delivery_status"] == "sent" and listed["target"] == "ops@example.com"


def test_an_email_alert_stays_queued_while_the_mail_server_is_down(settings):
    down = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_starttls": False}
    )
    with TestClient(create_app(down)) as client:
        admin = staff_headers(client, settings, "admin")
        add_calls(settings, failed())
        create(client, admin, rule_body("failures", "provider_failures", 0, "ops@example.com"))
        (event,) = client.post(f"{ALERTS}/evaluate", headers=admin).json()["events"]
        assert event["delivery_status"] == "queued" and event["delivery_error"]  # the outbox retries it
        assert event["delivered_at"] is None


@pytest.mark.both_databases  # claims by compare-and-set UPDATE, concurrently
def test_two_replicas_evaluating_at_once_fire_each_transition_exactly_once(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    add_calls(settings, failed(), failed())
    for name in ("a", "b", "c"):
        create(client, admin, rule_body(name, "provider_failures", 1, f"{webhook.url}/hook"))
    at = utcnow()

    async def replicas():
        first, second = Database(settings), Database(settings)
        try:
            # Both read the same rules before either claims one: only one claim per rule may succeed.
            async with first.sessionmaker() as session:
                seen = (await session.execute(select(AlertRule.id, AlertRule.last_evaluated_at))).all()
            claims = [
                await evaluate_rule(db.sessionmaker, rule_id, last, at)
                for rule_id, last in seen
                for db in (first, second)
            ]
            together = await asyncio.gather(
                evaluate_due(first.sessionmaker, settings, None, at + timedelta(minutes=1), force=True),
                evaluate_due(second.sessionmaker, settings, None, at + timedelta(minutes=1), force=True),
            )
            return claims, together
        finally:
            await first.dispose()
            await second.dispose()

    claims, together = asyncio.run(replicas())
    assert [c is not None for c in claims] == [True, False] * 3
    assert sum(c.event_id is not None for c in claims if c) == 3
    assert sum(r.evaluated for r in together) == 3  # each rule once, by one replica or the other
    assert [e for r in together for e in r.event_ids] == []  # still firing
    events = history(client, admin)["items"]
    assert sorted((e["rule_name"], e["kind"]) for e in events) == [
        ("a", "fired"),
        ("b", "fired"),
        ("c", "fired"),
    ]


def test_the_background_job_evaluates_the_rules_on_its_own(settings, webhook):
    jobs = settings.model_copy(update={"background_jobs": True, "alerts_interval_seconds": 0.2})
    add_calls(settings, failed(), failed())
    with TestClient(create_app(jobs)) as client:
        admin = staff_headers(client, settings, "admin")
        rule = create(client, admin, rule_body("job", "provider_failures", 1, f"{webhook.url}/hook"))
        deadline = time.monotonic() + 30
        while not webhook.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b["kind"] for b in webhook.bodies()] == ["fired"]
        assert client.get(f"{RULES}/{rule['id']}", headers=admin).json()["state"] == "firing"
        status = client.app.state.jobs.status()["alerts"]
        assert status["interval_seconds"] == 0.2 and status["last_error"] is None
        assert client.get(f"{ALERTS}/history", headers=admin).json()["total"] == 1


# --- history ------------------------------------------------------------------------------------------


@pytest.mark.both_databases  # filters and pages in SQL
def test_history_filters_pages_survives_deletion_and_exports_as_csv_and_xlsx(client, settings, webhook):
    admin = staff_headers(client, settings, "admin")
    analyst = staff_headers(client, settings, "analyst")
    add_calls(settings, failed(), failed())
    one = create(client, admin, rule_body("one", "provider_failures", 1, f"{webhook.url}/hook"))
    two = create(client, admin, rule_body("two", "provider_failures", 1, f"{webhook.url}/hook"))
    start = utcnow()
    evaluate_at(settings, start)  # both fire
    evaluate_at(settings, start + timedelta(minutes=10))  # both resolve

    everything = history(client, analyst)
    assert everything["total"] == 4
    assert [(e["rule_name"], e["kind"]) for e in everything["items"]] == [
        ("two", "resolved"), ("one", "resolved"), ("two", "fired"), ("one", "fired"),
    ]  # fmt: skip
    assert [e["kind"] for e in history(client, analyst, rule_id=one["id"])["items"]] == ["resolved", "fired"]
    assert {e["rule_name"] for e in history(client, analyst, kind="fired")["items"]} == {"one", "two"}
    window = {
        "since": (start + timedelta(minutes=5)).isoformat(),
        "until": (start + timedelta(minutes=11)).isoformat(),
    }
    assert [e["kind"] for e in history(client, analyst, **window)["items"]] == ["resolved", "resolved"]
    page = history(client, analyst, limit=1, offset=1)
    assert page["total"] == 4 and [(e["rule_name"], e["kind"]) for e in page["items"]] == [
        ("one", "resolved")
    ]

    assert client.delete(f"{RULES}/{one['id']}", headers=admin).status_code == 204
    kept = [e for e in history(client, analyst)["items"] if e["rule_name"] == "one"]
    assert len(kept) == 2 and all(e["rule_id"] is None for e in kept)  # the history outlives the rule

    exported = client.get(f"{ALERTS}/history/export", params={"format": "csv"}, headers=analyst)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="alert_history.csv"' in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == list(HISTORY_COLUMNS) and len(rows) == 5
    by_column = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(r["rule_name"], r["kind"], r["delivery_status"]) for r in by_column] == [
        ("two", "resolved", "sent"),
        ("one", "resolved", "sent"),
        ("two", "fired", "sent"),
        ("one", "fired", "sent"),
    ]
    assert by_column[0]["rule_id"] == str(two["id"]) and by_column[1]["rule_id"] == ""
    assert float(by_column[2]["value"]) == 2 and by_column[2]["target"] == f"{webhook.url}/…"

    filtered = client.get(
        f"{ALERTS}/history/export", params={"format": "xlsx", "rule_id": two["id"]}, headers=analyst
    )
    assert filtered.status_code == 200
    sheet = load_workbook(io.BytesIO(filtered.content), read_only=True).active
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == list(HISTORY_COLUMNS)
    assert [(r[3], r[4], r[6], r[11]) for r in table[1:]] == [
        ("two", "resolved", 0, "sent"),
        ("two", "fired", 2, "sent"),
    ]
    ada = sign_up(client, "ada@example.com")
    assert client.get(f"{ALERTS}/history/export", headers=ada).status_code == 403
