"""Staff actions from the command line: bulk plan change, bulk notification, exports, each as a named staff
account whose permission is checked and whose actions are audited."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from aiadmin.cli import main
from api.accounts.models import Account
from api.audit.models import AuditEntry
from api.core.db import make_sync_engine
from api.main import create_app
from api.notifications.models import Notification
from tests.support.api import create_staff_account, event_counts, register


def _rows(settings, *columns, where=()):
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return conn.execute(select(*columns).where(*where)).all()
    finally:
        engine.dispose()


@pytest.fixture
def people(env_settings):
    """Three end users (two in Germany), an admin and an analyst."""
    with TestClient(create_app(env_settings)) as client:
        for email, country in (
            ("ada@example.com", "DE"),
            ("bob@example.com", "DE"),
            ("cy@example.com", "FR"),
        ):
            register(client, email, country=country)
    create_staff_account(env_settings, "boss@example.com", "admin")
    create_staff_account(env_settings, "ana@example.com", "analyst")
    return env_settings


def test_set_plan_moves_a_segment_through_the_audited_service_call(people, capsys):
    args = ["set-plan", "--segment", "country:de", "--plan", "pro", "--reason", "promo", "--actor"]
    assert main([*args, "boss@example.com"]) == 0
    assert "2 users moved to 'pro'; 0 were on it already" in capsys.readouterr().out
    plans = dict(_rows(people, Account.email, Account.plan_code, where=[Account.role == "user"]))
    assert plans == {"ada@example.com": "pro", "bob@example.com": "pro", "cy@example.com": "free"}
    audit = _rows(people, AuditEntry.actor_email, AuditEntry.action, AuditEntry.reason, AuditEntry.request_id)
    assert len(audit) == 2 and {a[:3] for a in audit} == {("boss@example.com", "user.plan_change", "promo")}
    assert audit[0].request_id.startswith("cli-")
    assert event_counts(people)["plan.changed"] == 2

    assert main([*args, "boss@example.com"]) == 0  # again: nobody left to move
    assert "0 users moved to 'pro'; 2 were on it already" in capsys.readouterr().out
    assert main([*args, "ana@example.com"]) == 2  # an analyst lacks users:write
    assert "needs users:write" in capsys.readouterr().err
    assert (
        main(
            ["set-plan", "--segment", "all", "--plan", "gold", "--reason", "x", "--actor", "boss@example.com"]
        )
        == 2
    )
    assert (
        main(
            [
                "set-plan",
                "--segment",
                "planet:x",
                "--plan",
                "pro",
                "--reason",
                "x",
                "--actor",
                "boss@example.com",
            ]
        )
        == 2
    )
    assert "use all, plan:CODE" in capsys.readouterr().err
    assert len(_rows(people, AuditEntry.id)) == 2  # the refusals wrote nothing


def test_notify_sends_a_broadcast_in_each_users_language(people, capsys):
    command = [
        "notify", "--actor", "boss@example.com", "--segment", "all", "--channel", "in_app",
        "--channel", "email", "--subject", "Maintenance tonight", "--body", "Hello {email}",
        "--subject-ru", "Работы ночью",
    ]  # fmt: skip
    assert main(command) == 0
    assert "3 users, by in_app, email" in capsys.readouterr().out
    sent = _rows(
        people, Notification.channel, Notification.subject, where=[Notification.broadcast_id.is_not(None)]
    )
    assert sorted(sent) == [("email", "Maintenance tonight")] * 3 + [("in_app", "Maintenance tonight")] * 3
    (entry,) = _rows(people, AuditEntry.actor_email, AuditEntry.action)
    assert entry == ("boss@example.com", "notification.broadcast")
    assert main([*command[:3], "--segment", "country:JP", *command[5:]]) == 2
    assert "no user is in this segment" in capsys.readouterr().err


def test_export_writes_any_list_as_csv_or_xlsx_for_a_staff_member_allowed_to_read_it(
    people, tmp_path, capsys
):
    users_csv = tmp_path / "users.csv"
    assert main(["export", "users", "--actor", "ana@example.com", "-o", str(users_csv)]) == 0
    assert f"5 rows of users written to {users_csv}" in capsys.readouterr().out
    emails = {row["email"] for row in csv.DictReader(users_csv.open())}
    assert {"ada@example.com", "cy@example.com", "boss@example.com"} <= emails

    security = tmp_path / "logins.xlsx"
    assert (
        main(
            [
                "export",
                "security-events",
                "--actor",
                "boss@example.com",
                "--format",
                "xlsx",
                "-o",
                str(security),
            ]
        )
        == 0
    )
    rows = list(load_workbook(security, read_only=True).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "occurred_at", "kind") and len(rows) >= 4
    alerts = tmp_path / "alerts.csv"  # the alert history (empty here), with its own row shape
    assert main(["export", "alerts", "--actor", "ana@example.com", "-o", str(alerts)]) == 0
    assert alerts.read_text().startswith("id,occurred_at,rule_id,rule_name,kind")
    assert main(["export", "audit", "--actor", "ana@example.com", "-o", str(tmp_path / "a.csv")]) == 2
    assert "needs audit:read" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists()
