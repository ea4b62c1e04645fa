"""Lists as CSV or XLSX, streamed from the database in pages, so that a million rows export with flat
memory: CSV chunks go out as they are written; XLSX is written row by row (openpyxl's write-only mode) to
a temporary file that is then sent and deleted.

No cell runs as a formula in a spreadsheet: text that starts like one is made inert
(`warehouse.exports.inert`, the rule the panel's downloads use too); numbers and times stay typed (XLSX:
numeric and date cells)."""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, StreamingResponse

from warehouse.exports import XlsxSheet, inert

PAGE = 2_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# OpenAPI `responses=` for a 200 that is a file. A list export is CSV or XLSX, never JSON: its route also
# sets `response_class=Response`, so that FastAPI declares no JSON body of its own.
_CSV = {"text/csv": {"schema": {"type": "string"}}}
LIST_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every row: CSV (streamed) or XLSX",
        "content": {**_CSV, XLSX: {"schema": {"type": "string", "format": "binary"}}},
    }
}
# An answer that is JSON by default and CSV with `format=csv`.
CSV_ALTERNATIVE: dict[int | str, dict[str, Any]] = {200: {"content": _CSV}}


def _cell(value: Any) -> Any:
    """A value as a cell: numbers (a balance is a Decimal) and times kept typed, JSON for a dict or a list,
    text for the rest."""
    if value is None or isinstance(value, int | float | str | Decimal | date):
        return value
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)


def _cells(values) -> list:
    """A CSV row: typed values as Python writes them (a time as `2026-11-25 12:00:00+00:00`), text inert."""
    return [inert(_cell(v)) for v in values]


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A small table as CSV text, made as every export is (for answers built in memory: a chat)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(_cells(row) for row in rows)
    return buffer.getvalue()


async def _pages(session: AsyncSession, query: Select) -> AsyncIterator[Sequence[Any]]:
    result = await session.stream(query.execution_options(yield_per=PAGE))
    async for page in result.partitions(PAGE):
        yield page


def csv_response(
    sessionmaker: async_sessionmaker, query: Select, header: list[str], row: Callable, filename: str
) -> StreamingResponse:
    """The rows of `query` as CSV, read and sent a page at a time (in a session of its own: the
    request's has closed by the time the body is sent)."""

    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        async with sessionmaker() as session:
            async for page in _pages(session, query):
                writer.writerows(_cells(row(item)) for item in page)
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def json_array_response(
    sessionmaker: async_sessionmaker,
    query: Select,
    items: Callable[[AsyncIterator[Any]], AsyncIterator[Any]],
    filename: str,
) -> StreamingResponse:
    """A JSON array of what `items` makes of the rows of `query` (pydantic models, one element each: a
    chat and its messages from its rows), read and sent a page at a time in a session of its own, as
    `csv_response`; memory holds one element, not the array."""

    async def rows(session: AsyncSession) -> AsyncIterator[Any]:
        async for page in _pages(session, query):
            for row in page:
                yield row

    async def body() -> AsyncIterator[bytes]:
        separator = b"[\n"
        async with sessionmaker() as session:
            async for item in items(rows(session)):
                yield separator + item.model_dump_json().encode("utf-8")
                separator = b",\n"
        yield b"[]\n" if separator == b"[\n" else b"\n]\n"

    return StreamingResponse(
        body(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}.json"'},
    )


async def _write_xlsx(
    session: AsyncSession, query: Select, header: list[str], row: Callable, path, title: str
) -> None:
    sheet = XlsxSheet(title, header)
    async for page in _pages(session, query):
        for item in page:
            sheet.append([_cell(v) for v in row(item)])
    sheet.save(path)


async def xlsx_response(
    session: AsyncSession, query: Select, header: list[str], row: Callable, filename: str
) -> FileResponse:
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    await _write_xlsx(session, query, header, row, path, filename)
    return FileResponse(
        path,
        media_type=XLSX,
        filename=f"{filename}.xlsx",
        background=BackgroundTask(os.unlink, path),
    )


async def write_file(
    session: AsyncSession, query: Select, header: list[str], path, format: str, row: Callable = tuple
) -> int:
    """Every row of `query` into a CSV or XLSX file, a page at a time (the CLI's exports); the row count."""
    count = 0

    def counted(item):
        nonlocal count
        count += 1
        return row(item)

    if format == "xlsx":
        await _write_xlsx(session, query, header, counted, path, pathlib.Path(path).stem or "export")
        return count
    with open(path, "w", newline="", encoding="utf-8") as handle:  # noqa: ASYNC230 (the CLI's own loop)
        writer = csv.writer(handle)
        writer.writerow(header)
        async for page in _pages(session, query):
            writer.writerows(_cells(counted(item)) for item in page)
    return count


Format = Literal["csv", "xlsx"]


async def count_rows(session: AsyncSession, query: Select) -> int:
    """How many rows `query` gives (what an export will hold, for its audit row)."""
    return await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


async def list_response(
    request: Request,
    session: AsyncSession,
    format: Format,
    query: Select,
    header: list[str],
    row: Callable = tuple,
    *,
    filename: str,
) -> StreamingResponse | FileResponse:
    """Every row of `query` (no page) in the format asked for: how each admin list is exported."""
    if format == "csv":
        return csv_response(request.app.state.db.sessionmaker, query, header, row, filename)
    return await xlsx_response(session, query, header, row, filename)
