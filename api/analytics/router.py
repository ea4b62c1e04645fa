"""`/api/v1/analytics/…`: read-only figures from the published warehouse (analytics:read), as JSON or CSV.

The same queries as the panel's (warehouse/queries.py), on the serving copy: never the OLTP database.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.analytics.schemas import ExperimentReport
from api.auth.deps import AnalyticsReader
from api.core import exports
from api.core.errors import AccountBlocked, AppError, Forbidden, NotAuthenticated, responses
from warehouse import queries
from warehouse.exports import to_csv_bytes
from warehouse.settings import WarehouseSettings

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])


class WarehouseNotReady(AppError):
    status_code = 503
    code = "warehouse_not_ready"
    type = "api_error"


class InvalidRange(AppError):
    status_code = 422
    code = "invalid_range"


class AnalyticsTable(BaseModel):
    """A table of figures: its column names, and one object per row."""

    columns: list[str]
    rows: list[dict[str, Any]]


# JSON by default, CSV with `format=csv`.
RESPONSES = {
    **responses(NotAuthenticated, Forbidden, AccountBlocked, InvalidRange, WarehouseNotReady),
    **exports.CSV_ALTERNATIVE,
}
Start = Annotated[date | None, Query(description="first UTC day (included); default: the beginning")]
End = Annotated[date | None, Query(description="last UTC day (included); default: the end")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
GrainQuery = Annotated[Literal["day", "week", "month"], Query(description="day, week (Monday) or month")]


async def _read(request: Request, query: Callable, *args, **kwargs) -> Any:
    """`query` on the serving copy, in a thread; none published yet (or too old): 503 warehouse_not_ready."""
    serving = WarehouseSettings(data_dir=request.app.state.settings.data_dir).serving_path
    try:
        return await asyncio.to_thread(query, *args, path=serving, **kwargs)
    except queries.ServingNotReady as exc:
        raise WarehouseNotReady(str(exc), headers={"Retry-After": "60"}) from None


async def _answer(
    request: Request, name: str, fmt: str, start: date | None, end: date | None, query: Callable, **args
) -> AnalyticsTable | Response:
    if start and end and start > end:
        raise InvalidRange("start is after end")
    frame: pd.DataFrame = await _read(request, query, start=start, end=end, **args)
    if fmt == "csv":
        return Response(
            to_csv_bytes(frame),  # text that starts like a formula made inert, as in every export
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    for column in frame.select_dtypes(include=["datetime", "datetimetz"]).columns:
        frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    rows = json.loads(frame.to_json(orient="records", double_precision=10))
    return AnalyticsTable(columns=[str(c) for c in frame.columns], rows=rows)


@router.get("/active-users", response_model=AnalyticsTable, responses=RESPONSES)
async def active_users(
    request: Request,
    _staff: AnalyticsReader,
    start: Start = None,
    end: End = None,
    grain: GrainQuery = "day",
    format: Format = "json",
):
    """DAU, rolling WAU and MAU and stickiness per day; distinct actives per calendar week or month."""
    return await _answer(request, "active-users", format, start, end, queries.active_users, grain=grain)


@router.get("/usage", response_model=AnalyticsTable, responses=RESPONSES)
async def usage(
    request: Request,
    _staff: AnalyticsReader,
    start: Start = None,
    end: End = None,
    grain: GrainQuery = "day",
    format: Format = "json",
):
    """Calls, completions, errors, tokens in and out, cost and credits per period."""
    return await _answer(request, "usage", format, start, end, queries.usage, grain=grain)


@router.get("/costs", response_model=AnalyticsTable, responses=RESPONSES)
async def costs(
    request: Request,
    _staff: AnalyticsReader,
    start: Start = None,
    end: End = None,
    by: Annotated[Literal["model", "provider", "role", "plan", "country"], Query()] = "model",
    format: Format = "json",
):
    """Cost (USD) and credits over the range by model, provider, assistant role, plan or country."""
    return await _answer(request, f"costs-by-{by}", format, start, end, queries.costs, by=by)


@router.get("/top/{kind}", response_model=AnalyticsTable, responses=RESPONSES)
async def top(
    request: Request,
    _staff: AnalyticsReader,
    kind: Annotated[Literal["users", "models", "roles", "providers", "countries"], Path()],
    start: Start = None,
    end: End = None,
    metric: Annotated[Literal["cost", "calls", "tokens", "credits"], Query()] = "cost",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    format: Format = "json",
):
    """The top end users, models, roles, providers or countries of the range (10 unless `limit`)."""
    return await _answer(
        request, f"top-{kind}", format, start, end, queries.top, kind=kind, metric=metric, limit=limit
    )


@router.get("/geography", response_model=AnalyticsTable, responses=RESPONSES)
async def geography(
    request: Request, _staff: AnalyticsReader, start: Start = None, end: End = None, format: Format = "json"
):
    """Per country: active and new end users, calls, tokens, cost and credits."""
    return await _answer(request, "geography", format, start, end, queries.geography)


@router.get("/revenue", response_model=AnalyticsTable, responses=RESPONSES)
async def revenue(
    request: Request, _staff: AnalyticsReader, start: Start = None, end: End = None, format: Format = "json"
):
    """Per UTC day and plan: the money top-ups paid (USD, on the plan of the moment), the provider cost of
    the calls and the margin."""
    return await _answer(request, "revenue", format, start, end, queries.revenue)


@router.get("/retention", response_model=AnalyticsTable, responses=RESPONSES)
async def retention(
    request: Request, _staff: AnalyticsReader, start: Start = None, end: End = None, format: Format = "json"
):
    """Weekly cohorts by registration week (in the range): % active N weeks later."""
    return await _answer(request, "retention", format, start, end, queries.retention)


@router.get("/latency", response_model=AnalyticsTable, responses=RESPONSES)
async def latency(
    request: Request, _staff: AnalyticsReader, start: Start = None, end: End = None, format: Format = "json"
):
    """Per provider and model: calls, errors, error rate and latency p50 / p95 in ms."""
    return await _answer(request, "latency", format, start, end, queries.latency)


@router.get("/feedback", response_model=AnalyticsTable, responses=RESPONSES)
async def feedback(
    request: Request,
    _staff: AnalyticsReader,
    start: Start = None,
    end: End = None,
    by: Annotated[Literal["model", "role", "role_version", "provider", "plan"], Query()] = "model",
    format: Format = "json",
):
    """End users' scores of their completions over the range (each completion once, by its latest score)
    by model, assistant role, role and version, provider or plan: scores, ratings up and down, numbers and
    their mean, and the share positive (rated up or 4-5). Decision 0054."""
    return await _answer(request, f"feedback-by-{by}", format, start, end, queries.feedback, by=by)


@router.get(
    "/experiments/{experiment_id}",
    response_model=ExperimentReport,
    responses=responses(NotAuthenticated, Forbidden, AccountBlocked, WarehouseNotReady),
)
async def experiment(request: Request, _staff: AnalyticsReader, experiment_id: uuid.UUID):
    """An experiment's variants compared with its control (variant A) over the whole experiment, from the
    calls' events (decision 0060): per variant its calls, users, errors, cache hits and excluded calls, the
    error rate, latency p50 / p95, tokens and cost per completion and the share of positive scores, each
    with its 95 % interval; per other variant and metric the difference from the control, its interval and
    the outcome (better, worse, no_difference, or too_few below `min_calls` / `min_feedback`). As of the
    last publication (`refreshed_at`). The warehouse knows experiments by their calls only: one without a
    call yet, like an id it never saw, answers empty lists."""
    report = await _read(request, queries.experiment, str(experiment_id))
    return ExperimentReport(experiment_id=str(experiment_id), **report)
