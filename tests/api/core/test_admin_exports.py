"""Exports of admin lists: CSV streamed a page at a time (100k accounts with flat memory), XLSX opens."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import uuid
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from api.accounts.models import Account
from tests.support.api import db_execute, sign_up, staff_headers

EXPORT = "/api/v1/admin/users/export"


def _many_accounts(settings, count: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "email": f"bulk{n:06d}@example.com",
            "password_hash": "x",
            "role": "user",
            "plan_code": "free",
            "country": "DE",
            "is_blocked": False,
            "created_at": at,
            "balance": 0,
        }
        for n in range(count)
    ]
    db_execute(
        settings, *(Account.__table__.insert().values(rows[i : i + 5000]) for i in range(0, count, 5000))
    )


def _export_all_users(client, admin) -> tuple[int, str, int]:
    """The CSV export of every user, read as it streams: (lines, the header, the peak of traced memory)."""
    tracemalloc.start()
    try:
        rows = 0
        with client.stream(
            "GET", EXPORT, params={"role": "user", "sort": "email", "order": "asc"}, headers=admin
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/csv")
            first = last = None
            for line in response.iter_lines():
                if first is None:
                    first = line
                last = line
                rows += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.startswith("id,email,role,plan_code")
    return rows, last, peak


@pytest.mark.long  # a memory test: 100,000 accounts, a minute or more on each database
@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_csv_export_of_100k_users_streams_with_flat_memory(client, settings):
    _many_accounts(settings, 100_000)
    admin = staff_headers(client, settings, "admin")
    rows, _, peak = _export_all_users(client, admin)
    assert rows == 100_001  # the header and every user
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while exporting"


@pytest.mark.both_databases  # the export reads a page at a time, each database its own way
def test_a_csv_export_streams_every_user_in_order_across_its_pages(client, settings):
    """`make test`'s smoke of the 100k export: more users than a few pages hold, each once, in order."""
    _many_accounts(settings, 5_000)
    admin = staff_headers(client, settings, "admin")
    rows, last, _ = _export_all_users(client, admin)
    assert rows == 5_001  # the header and every user
    assert ",bulk004999@example.com," in f",{last},"  # sorted by email: the last one last


def test_an_xlsx_export_opens_with_the_filtered_users(client, settings):
    for name in ("ada", "bob", "cyd"):
        sign_up(client, f"{name}@example.com", country="FR" if name == "bob" else "DE")
    analyst = staff_headers(client, settings, "analyst")
    response = client.get(
        EXPORT, params={"format": "xlsx", "country": "DE", "sort": "email", "order": "asc"}, headers=analyst
    )
    assert response.status_code == 200
    assert 'filename="users.xlsx"' in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "email", "role")
    assert [r[1] for r in rows[1:]] == ["ada@example.com", "cyd@example.com"]
    as_csv = client.get(
        EXPORT, params={"country": "DE", "sort": "email", "order": "asc"}, headers=analyst
    ).text
    assert [r["email"] for r in csv.DictReader(io.StringIO(as_csv))] == ["ada@example.com", "cyd@example.com"]
    assert client.get(EXPORT, headers=sign_up(client, "eve@example.com")).status_code == 403


def _xlsx_rows(response) -> list[tuple]:
    assert response.status_code == 200, response.text
    return list(
        load_workbook(io.BytesIO(response.content), read_only=True).active.iter_rows(values_only=True)
    )


def test_the_audit_log_and_the_security_log_export_with_their_filters(client, settings):
    ada = sign_up(client, "ada@example.com")
    client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "wrong password"})
    admin = staff_headers(client, settings, "admin")
    ada_id = client.get("/api/v1/me", headers=ada).json()["id"]
    for action in ("block", "unblock"):
        client.post(f"/api/v1/admin/users/{ada_id}/{action}", json={"reason": "a test"}, headers=admin)

    audit_csv = client.get("/api/v1/admin/audit/export", params={"target_id": ada_id}, headers=admin)
    assert audit_csv.headers["content-type"].startswith("text/csv")
    entries = list(csv.DictReader(io.StringIO(audit_csv.text)))
    assert [e["action"] for e in entries] == ["user.unblock", "user.block"]  # newest first
    assert json.loads(entries[1]["after"]) == {"is_blocked": True}  # JSON, not Python's repr
    audit_xlsx = _xlsx_rows(
        client.get(
            "/api/v1/admin/audit/export", params={"format": "xlsx", "action": "user.block"}, headers=admin
        )
    )
    assert audit_xlsx[0][:5] == ("id", "occurred_at", "actor_id", "actor_email", "action")
    assert [r[4] for r in audit_xlsx[1:]] == ["user.block"]

    security = "/api/v1/admin/security-events/export"
    failures = _xlsx_rows(
        client.get(security, params={"format": "xlsx", "kind": "user.login_failed"}, headers=admin)
    )
    assert [(r[2], r[5]) for r in failures[1:]] == [("user.login_failed", "ada@example.com")]
    logins = list(
        csv.DictReader(
            io.StringIO(client.get(security, params={"email": "ADA@example.com"}, headers=admin).text)
        )
    )
    assert {e["kind"] for e in logins} >= {"user.login_succeeded", "user.login_failed", "user.registered"}
    analyst = staff_headers(client, settings, "analyst")  # neither audit:read nor security:read
    assert client.get("/api/v1/admin/audit/export", headers=analyst).status_code == 403
    assert client.get(security, headers=analyst).status_code == 403
