"""Notifications: broadcasts to a segment by email and in-app, the automatic rules (welcome, quota exhausted,
balance low) in English and Russian, each user's inbox and the delivery log."""

from __future__ import annotations

import io
import time
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text

from api.main import create_app
from tests.api.conftest import SmtpInbox
from tests.support.api import (
    completion_body,
    db_execute,
    delivered,
    free_port,
    grant_credits,
    mails,
    sign_up,
    staff_headers,
)

ADMIN = "/api/v1/admin/notifications"
INBOX = "/api/v1/me/notifications"
TEXTS = {
    "en": {"subject": "News for {plan} users", "body": "Hello {email}, see {app_url}"},
    "ru": {"subject": "Новости тарифа {plan}", "body": "Привет, {email}!"},
}


def _smtp(settings, port: int):
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False})


def _subject(envelope) -> str:
    return str(make_header(decode_header(message_from_bytes(envelope.content)["Subject"])))


def _inbox(client, headers, **params):
    response = client.get(INBOX, headers=headers, params=params)
    assert response.status_code == 200
    return response.json()


@pytest.mark.both_databases  # deliveries: INSERT … ON CONFLICT DO NOTHING
def test_a_broadcast_reaches_its_segment_by_email_and_in_app_in_each_users_language(settings, smtp_server):
    controller, smtp_inbox = smtp_server
    with TestClient(create_app(_smtp(settings, controller.port))) as client:
        ada = sign_up(client, "ada@example.com", country="DE")
        boris = sign_up(client, "boris@example.com", country="DE", locale="ru")
        carl = sign_up(client, "carl@example.com", country="FR")
        admin = staff_headers(client, settings, "admin")
        segment = {"kind": "country", "country": "de"}
        assert client.get(f"{ADMIN}/audience", params=segment, headers=admin).json() == {"recipients": 2}

        sent = client.post(
            f"{ADMIN}/broadcasts",
            headers=admin,
            json={"segment": segment, "channels": ["email", "in_app"], "texts": TEXTS},
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["recipients"] == 2 and sent.json()["segment"] == {
            "kind": "country",
            "country": "DE",
        }

        received = {e.rcpt_tos[0]: _subject(e) for e in smtp_inbox.messages if "free" in _subject(e)}
        assert received == {
            "ada@example.com": "News for free users",
            "boris@example.com": "Новости тарифа free",
        }
        (ada_news,) = [n for n in _inbox(client, ada)["items"] if n["broadcast_id"]]
        assert ada_news["body"] == "Hello ada@example.com, see http://127.0.0.1:8000"
        (boris_news,) = [n for n in _inbox(client, boris)["items"] if n["broadcast_id"]]
        assert boris_news["body"] == "Привет, boris@example.com!"
        assert not [n for n in _inbox(client, carl)["items"] if n["broadcast_id"]]

        log = client.get(
            f"{ADMIN}/deliveries", params={"broadcast_id": sent.json()["id"]}, headers=admin
        ).json()
        assert log["total"] == 4
        assert sorted((d["email"], d["channel"], d["status"]) for d in log["items"]) == [
            ("ada@example.com", "email", "sent"),
            ("ada@example.com", "in_app", "delivered"),
            ("boris@example.com", "email", "sent"),
            ("boris@example.com", "in_app", "delivered"),
        ]
        audit = client.get(
            "/api/v1/admin/audit", params={"action": "notification.broadcast"}, headers=admin
        ).json()
        assert [(a["target_id"], a["after"]["recipients"], a["actor_email"]) for a in audit] == [
            (str(sent.json()["id"]), 2, "admin@example.com")
        ]
        assert client.get(f"{ADMIN}/broadcasts", headers=admin).json()[0]["id"] == sent.json()["id"]


@pytest.mark.both_databases  # segments are SQL filters
def test_segments_count_only_active_end_users_and_bad_segments_are_refused(client, settings):
    sign_up(client, "ada@example.com", country="DE")
    sign_up(client, "boris@example.com", country="FR")
    blocked = sign_up(client, "carl@example.com", country="DE")
    admin = staff_headers(client, settings, "admin")
    carl_id = client.get("/api/v1/me", headers=blocked).json()["id"]
    assert (
        client.post(
            f"/api/v1/admin/users/{carl_id}/block", json={"reason": "spam"}, headers=admin
        ).status_code
        == 200
    )
    db_execute(settings, text("UPDATE accounts SET plan_code = 'pro' WHERE email = 'boris@example.com'"))

    def count(**segment):
        response = client.get(f"{ADMIN}/audience", params=segment, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["recipients"]

    assert count() == 2  # ada and boris: not carl (blocked), not the staff
    assert count(kind="plan", plan="pro") == 1
    assert count(kind="country", country="DE") == 1
    assert count(kind="inactive", inactive_days=30) == 0  # both logged in just now
    db_execute(
        settings,
        text(
            "DELETE FROM usage_events"
            " WHERE user_id = (SELECT id FROM accounts WHERE email = 'ada@example.com')"
        ),
    )
    assert count(kind="inactive", inactive_days=30) == 1

    def send(segment, channels=("in_app",), texts=TEXTS):
        return client.post(
            f"{ADMIN}/broadcasts",
            headers=admin,
            json={"segment": segment, "channels": list(channels), "texts": texts},
        )

    for bad in ({"kind": "plan"}, {"kind": "all", "plan": "pro"}, {"kind": "inactive", "inactive_days": 0}):
        assert client.get(f"{ADMIN}/audience", params=bad, headers=admin).status_code == 422
        assert send(bad).status_code == 422
    assert send({"kind": "all"}, channels=("sms",)).status_code == 422
    assert send({"kind": "all"}, channels=()).status_code == 422
    assert send({"kind": "plan", "plan": "gold"}).json()["error"]["code"] == "unknown_plan"
    empty = send({"kind": "country", "country": "JP"})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_segment"
    unknown = send({"kind": "all"}, texts={"en": {"subject": "Hi {name}", "body": "x"}})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_placeholder"
    assert client.get(f"{ADMIN}/broadcasts", headers=admin).json() == []  # nothing half-sent
    moderator = staff_headers(client, settings, "moderator")  # no notifications:send
    assert send({"kind": "all"}).status_code == 201
    denied = client.post(
        f"{ADMIN}/broadcasts", headers=moderator, json={"segment": {}, "channels": ["in_app"], "texts": TEXTS}
    )
    assert denied.status_code == 403
    assert client.get(f"{ADMIN}/deliveries", headers=moderator).status_code == 403


def test_the_welcome_rule_writes_in_the_language_of_the_browser_and_can_be_turned_off(client, settings):
    client.post(
        "/api/v1/auth/register",
        json={"email": "boris@example.com", "password": "correct horse battery"},
        headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"},
    )
    (welcome,) = mails(settings, "boris@example.com", "notification")
    (sent,) = delivered("boris@example.com", welcome.subject)
    assert welcome.subject == "Добро пожаловать" and "тариф free" in sent.body
    admin = staff_headers(client, settings, "admin")

    off = client.put(f"{ADMIN}/rules/welcome", json={"enabled": False}, headers=admin)
    assert off.status_code == 200 and off.json()["enabled"] is False
    sign_up(client, "ada@example.com")
    assert mails(settings, "ada@example.com", "notification") == []
    (change,) = client.get(
        "/api/v1/admin/audit", params={"action": "notification_rule.update"}, headers=admin
    ).json()
    assert change["target_id"] == "welcome"
    assert change["before"]["enabled"] is True and change["after"]["enabled"] is False

    bad_texts = {"texts": {"en": {"subject": "Hi", "body": "{balance} left"}}}
    refused = client.put(f"{ADMIN}/rules/welcome", json=bad_texts, headers=admin)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_placeholder"
    no_threshold = client.put(f"{ADMIN}/rules/welcome", json={"threshold": "5"}, headers=admin)
    assert no_threshold.json()["error"]["code"] == "no_threshold"
    assert client.put(f"{ADMIN}/rules/nope", json={"enabled": True}, headers=admin).status_code == 404
    assert client.put(f"{ADMIN}/rules/welcome", json={"colour": "red"}, headers=admin).status_code == 422
    rules = {r["code"]: r for r in client.get(f"{ADMIN}/rules", headers=admin).json()}
    assert set(rules) == {"welcome", "quota_exhausted", "balance_low"}
    assert "balance" in rules["balance_low"]["placeholders"] and rules["welcome"]["enabled"] is False


@pytest.mark.both_databases  # once per window: ON CONFLICT DO NOTHING
def test_quota_exhausted_notifies_once_per_window_however_often_the_user_is_refused(client, settings, clock):
    ada = sign_up(client, "ada@example.com")
    statuses = [
        client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code for _ in range(6)
    ]
    assert statuses == [200, 200, 200, 429, 429, 429]  # the free plan: 3 a day
    notes = [n for n in _inbox(client, ada)["items"] if n["rule"] == "quota_exhausted"]
    assert len(notes) == 1 and "3" in notes[0]["body"]
    assert len(mails(settings, "ada@example.com", "notification")) == 2  # welcome + quota


@pytest.mark.both_databases  # the settlement's new balance (fast lane on PostgreSQL)
def test_balance_low_fires_when_a_call_takes_the_balance_below_the_threshold(client, settings):
    ada = sign_up(client, "ada@example.com")
    db_execute(settings, text("UPDATE accounts SET plan_code = 'pro' WHERE email = 'ada@example.com'"))
    admin = staff_headers(client, settings, "admin")
    rule = client.put(
        f"{ADMIN}/rules/balance_low", json={"threshold": "100", "channels": ["in_app"]}, headers=admin
    )
    assert rule.status_code == 200 and float(rule.json()["threshold"]) == 100
    grant_credits(settings, "ada@example.com", "100.005")  # a paid call costs about 0.01 credits
    body = completion_body(model="mock-large")
    assert client.post("/v1/chat/completions", headers=ada, json=body).status_code == 200
    assert client.post("/v1/chat/completions", headers=ada, json=body).status_code == 200
    (low,) = [n for n in _inbox(client, ada)["items"] if n["rule"] == "balance_low"]
    balance = client.get("/api/v1/me/balance", headers=ada).json()["balance"]
    assert "below 100.00" in low["body"] and float(balance) < 100


def test_the_inbox_is_each_users_own(client, settings):
    ada = sign_up(client, "ada@example.com")
    boris = sign_up(client, "boris@example.com")
    inbox = _inbox(client, ada)
    (welcome,) = inbox["items"]
    assert inbox["unread"] == 1 and welcome["rule"] == "welcome"
    assert client.post(f"{INBOX}/{welcome['id']}/read", headers=boris).status_code == 404
    assert _inbox(client, ada)["unread"] == 1
    assert client.post(f"{INBOX}/{welcome['id']}/read", headers=ada).json() == {"marked": 1}
    assert _inbox(client, ada, unread=True) == {"total": 0, "unread": 0, "items": []}
    assert client.post(f"{INBOX}/read-all", headers=boris).json() == {"marked": 1}
    assert client.get(INBOX).status_code == 401


def test_the_delivery_log_exports_as_csv_and_xlsx(client, settings):
    for n in range(3):
        sign_up(client, f"user{n}@example.com")
    admin = staff_headers(client, settings, "admin")
    csv = client.get(f"{ADMIN}/deliveries/export", params={"channel": "email"}, headers=admin)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("id,created_at,account_id,email,channel") and len(lines) == 4
    assert all(",email," in line and ",sent," in line for line in lines[1:])  # the console sender's
    xlsx = client.get(
        f"{ADMIN}/deliveries/export", params={"format": "xlsx", "rule": "welcome"}, headers=admin
    )
    rows = list(load_workbook(io.BytesIO(xlsx.content), read_only=True).active.values)
    assert rows[0][:5] == ("id", "created_at", "account_id", "email", "channel") and len(rows) == 7


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_mail_job_retries_until_the_mail_server_answers(settings):
    """Background jobs on: mails written while the mail server is down go out once it is up."""
    port = free_port()
    jobs = _smtp(settings, port).model_copy(update={"background_jobs": True, "mail_interval_seconds": 0.2})
    with TestClient(create_app(jobs)) as client:
        sign_up(client, "ada@example.com")
        (welcome,) = mails(settings, "ada@example.com", "notification")
        assert welcome.sent_at is None and welcome.last_error  # refused: nothing listens yet
        inbox = SmtpInbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            # Until the delivery is recorded too, not only received: the job marks a mail sent after the
            # server took it, and leaving the client stops the job (a mail taken but not yet marked
            # sent would be sent again, at least once, by design).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                len(inbox.messages) < 2 or any(m.sent_at is None for m in mails(settings, "ada@example.com"))
            ):
                time.sleep(0.1)
        finally:
            controller.stop()
    assert sorted(_subject(e) for e in inbox.messages) == ["Confirm your email", "Welcome to the assistant"]
    (welcome,) = mails(settings, "ada@example.com", "notification")
    assert welcome.sent_at is not None and welcome.attempts >= 2
