"""Lists as CSV or XLSX, streamed from the database in pages, so that a million rows export with flat
memory: CSV chunks go out as they are written; XLSX is written row by row (openpyxl's write-only mode) to
a temporary file that is then sent and deleted."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, StreamingResponse

PAGE = 2_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else str(value)


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
                writer.writerows(row(item) for item in page)
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


async def xlsx_response(
    session: AsyncSession, query: Select, header: list[str], row: Callable, filename: str
) -> FileResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(filename[:31])
    sheet.append(header)
    async for page in _pages(session, query):
        for item in page:
            sheet.append([_cell(v) for v in row(item)])
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    workbook.save(path)
    return FileResponse(
        path,
        media_type=XLSX,
        filename=f"{filename}.xlsx",
        background=BackgroundTask(os.unlink, path),
    )
