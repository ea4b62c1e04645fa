"""Exports: a query result as the user sees it (CSV, XLSX), and every mart as Parquet for BI tools."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def xlsx_value(value):
    """A worksheet cannot hold control characters (openpyxl refuses the whole row): each shows as U+FFFD."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append([xlsx_value(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        worksheet.append([None if pd.isna(v) else xlsx_value(v) for v in row])
    for index, column in enumerate(frame.columns, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = max(12, len(str(column)) + 2)
    buffer = io.BytesIO()
    workbook.save(buffer)
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
