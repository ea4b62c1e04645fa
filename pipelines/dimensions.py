"""Dimension snapshots: the current users, plans, models, prices, roles and providers, copied whole into
`raw.*` on every run; dbt snapshots (`dbt/snapshots/`) keep their history (a user's plan over time, a
model's tier or visibility over time). Prices already have their history in the OLTP database.

Secrets never leave the OLTP database: no password hashes, TOTP secrets or provider keys are copied.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset
from sqlalchemy import Table, select

from api.accounts.models import Account, Plan
from api.catalogue.models import AssistantRole, LlmModel, ModelPrice, ModelRoute, Provider
from pipelines.resources import OltpResource, WarehouseResource

# raw table -> (OLTP table, the columns copied)
DIMENSIONS: dict[str, tuple[Table, tuple[str, ...]]] = {
    "accounts": (
        Account.__table__,
        ("id", "email", "role", "plan_code", "country", "is_blocked", "balance", "created_at"),
    ),
    "plans": (
        Plan.__table__,
        (
            "code",
            "name",
            "daily_requests",
            "model_tiers",
            "tokens_per_day",
            "tokens_per_month",
            "max_chats",
            "max_messages_per_chat",
        ),
    ),
    "llm_models": (
        LlmModel.__table__,
        (
            "id",
            "display_name",
            "tier",
            "visible",
            "enabled",
            "context_length",
            "max_output_tokens",
            "sort_order",
            "created_at",
        ),
    ),
    "model_prices": (
        ModelPrice.__table__,
        ("id", "model_id", "input_per_million", "output_per_million", "effective_from"),
    ),
    "model_routes": (ModelRoute.__table__, ("model_id", "provider_id", "provider_model")),
    "assistant_roles": (
        AssistantRole.__table__,
        ("id", "name", "default_model", "enabled", "created_at"),
    ),
    "providers": (
        Provider.__table__,
        ("id", "kind", "display_name", "base_url", "priority", "timeout_seconds", "max_retries", "enabled"),
    ),
}


def _arrow_type(column) -> pa.DataType:
    """Integers, floats, booleans and times keep their type; everything else travels as text."""
    kind = getattr(column.type, "impl", column.type)  # a TypeDecorator (UTCDateTime) says what it wraps
    python_type = kind.python_type
    if python_type is bool:
        return pa.bool_()
    if python_type is int:
        return pa.int64()
    if python_type is float:
        return pa.float64()
    if python_type is datetime:
        return pa.timestamp("us")
    return pa.string()


def _plain(value):
    """A value Arrow and DuckDB take as is: UUIDs and decimals as text (cast in staging), naive UTC times."""
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def copy_dimensions(oltp: OltpResource, warehouse: WarehouseResource) -> dict[str, int]:
    """Replace each raw dimension table with the OLTP table's current rows (all in one DuckDB transaction)."""
    engine = oltp.engine()
    try:
        frames: dict[str, pa.Table] = {}
        with engine.connect() as conn:  # one read snapshot on PostgreSQL (and on SQLite's WAL)
            conn.begin()
            for name, (table, columns) in DIMENSIONS.items():
                rows = conn.execute(select(*(table.c[c] for c in columns))).all()
                frames[name] = pa.table(
                    {
                        c: pa.array([_plain(row[i]) for row in rows], _arrow_type(table.c[c]))
                        for i, c in enumerate(columns)
                    }
                )
    finally:
        engine.dispose()
    with warehouse.writer() as duck:
        duck.execute("CREATE SCHEMA IF NOT EXISTS raw; BEGIN TRANSACTION")
        for name, frame in frames.items():
            duck.register("frame", frame)
            duck.execute(f'CREATE OR REPLACE TABLE raw."{name}" AS SELECT * FROM frame')  # noqa: S608
            duck.unregister("frame")
        duck.execute("COMMIT")
    return {name: frame.num_rows for name, frame in frames.items()}


@multi_asset(
    specs=[
        AssetSpec(
            AssetKey(["raw", name]),
            group_name="extract",
            description=f"The OLTP `{table.name}` table as it is now (no secrets); history in dbt snapshots.",
            kinds={"python", "duckdb"},
        )
        for name, (table, _) in DIMENSIONS.items()
    ]
)
def raw_dimensions(context: AssetExecutionContext, oltp: OltpResource, warehouse: WarehouseResource):
    counts = copy_dimensions(oltp, warehouse)
    context.log.info(f"dimensions copied: {counts}")
    for name, rows in counts.items():
        yield MaterializeResult(asset_key=AssetKey(["raw", name]), metadata={"rows": MetadataValue.int(rows)})
