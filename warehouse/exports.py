"""Exports: a query result as the user sees it (CSV, XLSX), and every mart as Parquet for BI tools.

Every spreadsheet export, the API's and the panel's, goes through `inert` (formula injection) and, for
XLSX, `xlsx_value`: the one rule for what a cell may hold
(docs/decisions/0035-outbound-addresses-and-inert-exports.md).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

# What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a text cell as a formula: OWASP's "CSV
# Injection" list (= + - @ tab CR), ASVS 5.0's (NUL too), line feed, and the full-width forms some convert.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# A signed number written out (as the panel shows it: "-1,234.5", "-1\u202f234,5"): read as a number,
# never as a formula (no operator after the sign), so it is left as it is.
_PLAIN_NUMBER = re.compile(r"[-+]?\d[\d.,\u00a0\u202f ]*")


def inert(value):
    """The value a spreadsheet will not run: text that starts like a formula gets a leading `'` (OWASP's
    advice); a number, a date, a plain signed number as text and everything else pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV as RFC 4180 writes it (CRLF between rows, so that a field holding a lone CR is quoted), inert."""
    frame = frame.map(inert).rename(columns=inert)
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def xlsx_value(value):
    """A cell as XLSX holds it: text made inert, without control characters (openpyxl refuses the whole row:
    each shows as U+FFFD); an aware time as naive UTC (XLSX has no time zones: refused too); numbers and
    times stay typed, so that a spreadsheet sums and sorts them."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", inert(value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class XlsxSheet:
    """The one XLSX writer (the panel's downloads and the API's list exports): one sheet written row by row
    (openpyxl's write-only mode: flat memory for a million rows), each cell through `xlsx_value`."""

    def __init__(self, title: str, header: list) -> None:
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(title[:31] or "data")
        for index, column in enumerate(header, start=1):  # (widths must come before the first row)
            self.sheet.column_dimensions[get_column_letter(index)].width = max(12, len(str(column)) + 2)
        self.sheet.append([xlsx_value(str(c)) for c in header])

    def append(self, values) -> None:
        self.sheet.append([None if _missing(v) else xlsx_value(v) for v in values])

    def save(self, target) -> None:
        """Into a path or a binary file."""
        self.workbook.save(target)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float | pd.Timestamp | type(pd.NaT)) and pd.isna(value))


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    writer = XlsxSheet(sheet, list(frame.columns))
    for row in frame.itertuples(index=False):
        writer.append(row)
    buffer = io.BytesIO()
    writer.save(buffer)
    return buffer.getvalue()


def export_marts(serving_path: Path, out_dir: Path) -> list[tuple[Path, int]]:
    """Every table of the serving copy's `marts` schema as `<out_dir>/<table>.parquet` (written next to
    the target and renamed, so a half-written file never has the final name). The files and their rows."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with duckdb.connect(str(serving_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        for table in tables:
            target = out_dir / f"{table}.parquet"
            partial = out_dir / f".{table}.parquet.partial"
            # Identifiers come from the file's own catalogue, quoted; COPY takes no parameter for its path.
            con.execute(f"COPY marts.\"{table}\" TO '{_sql_string(partial)}' (FORMAT parquet)")
            partial.replace(target)
            (rows,) = con.execute(f'SELECT count(*) FROM marts."{table}"').fetchone()  # noqa: S608
            written.append((target, rows))
    return written


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")
