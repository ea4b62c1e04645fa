"""Exports of a query result as the user sees it: CSV and XLSX."""

from __future__ import annotations

import io

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        worksheet.append([None if pd.isna(v) else v for v in row])
    for index, column in enumerate(frame.columns, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = max(12, len(str(column)) + 2)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
