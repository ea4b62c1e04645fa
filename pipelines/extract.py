"""Extract: new `usage_events` rows from the OLTP database into `raw.usage_events` in DuckDB.

Idempotent on `event_id` (the primary key of the raw table; a re-read row is ignored). Rows move in
Arrow batches, never row by row. The cursor is the highest `id` already loaded, read from the warehouse
itself, so it commits atomically with the rows. The cursor re-reads a window of recent ids on every run,
which picks up a transaction that committed late with a lower id within that window.
"""

import json
from datetime import UTC

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from sqlalchemy import select

from api.events.models import UsageEvent
from pipelines.resources import OltpResource, WarehouseResource

RAW_USAGE_EVENTS = AssetKey(["raw", "usage_events"])
BATCH_ROWS = 50_000
LOOKBACK_IDS = 10_000

ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("event_id", pa.string()),
        ("occurred_at", pa.timestamp("us")),
        ("type", pa.string()),
        ("user_id", pa.string()),
        ("chat_id", pa.string()),
        ("role_id", pa.string()),
        ("model_id", pa.string()),
        ("provider", pa.string()),
        ("plan", pa.string()),
        ("input_tokens", pa.int32()),
        ("output_tokens", pa.int32()),
        ("cost_usd", pa.decimal128(18, 8)),
        ("credits", pa.decimal128(18, 6)),
        ("latency_ms", pa.int32()),
        ("status", pa.string()),
        ("error_code", pa.string()),
        ("country", pa.string()),
        ("client", pa.string()),
        ("properties", pa.string()),
    ]
)
_UUID_COLUMNS = ("event_id", "user_id", "chat_id")
_NOT_NULL = {"id", "occurred_at", "type"}


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    return {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.string(): "VARCHAR",
        pa.timestamp("us"): "TIMESTAMP",
    }[arrow_type]


def _raw_ddl() -> str:
    """raw.usage_events: the Arrow batch's columns, `event_id` as the key, and when each row was loaded."""
    columns = [
        f"{field.name} {_duckdb_type(field.type)}"
        + (" PRIMARY KEY" if field.name == "event_id" else " NOT NULL" if field.name in _NOT_NULL else "")
        for field in ARROW_SCHEMA
    ]
    columns.append("loaded_at TIMESTAMP NOT NULL DEFAULT current_timestamp")
    return (
        "CREATE SCHEMA IF NOT EXISTS raw;\nCREATE TABLE IF NOT EXISTS raw.usage_events (\n    "
        + ",\n    ".join(columns)
        + "\n);"
    )


RAW_DDL = _raw_ddl()


def _to_arrow(rows) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in ARROW_SCHEMA.names}
    for row in rows:
        for name in ARROW_SCHEMA.names:
            value = row[name]
            if value is not None:
                if name in _UUID_COLUMNS:
                    value = str(value)
                elif name == "occurred_at":
                    value = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
                elif name == "properties":
                    value = json.dumps(value, sort_keys=True)
            columns[name].append(value)
    return pa.table(columns, schema=ARROW_SCHEMA)


def extract_usage_events(oltp: OltpResource, warehouse: WarehouseResource, log=None) -> dict[str, int]:
    """Load every event past the cursor; returns how many rows were read and how many were new."""
    table = UsageEvent.__table__
    columns = [table.c[name] for name in ARROW_SCHEMA.names]
    read = inserted = 0
    engine = oltp.engine()
    try:
        with warehouse.writer() as duck:
            duck.execute(RAW_DDL)
            (cursor,) = duck.execute("SELECT coalesce(max(id), 0) FROM raw.usage_events").fetchone()
            start = max(0, cursor - LOOKBACK_IDS)
            with engine.connect().execution_options(stream_results=True, yield_per=BATCH_ROWS) as conn:
                result = conn.execute(select(*columns).where(table.c.id > start).order_by(table.c.id))
                for partition in result.mappings().partitions(BATCH_ROWS):
                    batch = _to_arrow(partition)
                    before = duck.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]
                    duck.execute("INSERT OR IGNORE INTO raw.usage_events BY NAME SELECT * FROM batch")
                    after = duck.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]
                    read += batch.num_rows
                    inserted += after - before
                    if log:
                        log.info(f"extract: read {read} rows past id {start}, {inserted} new")
            (new_cursor,) = duck.execute("SELECT coalesce(max(id), 0) FROM raw.usage_events").fetchone()
            (total,) = duck.execute("SELECT count(*) FROM raw.usage_events").fetchone()
    finally:
        engine.dispose()
    return {"read": read, "inserted": inserted, "cursor": new_cursor, "total": total}


@asset(
    key=RAW_USAGE_EVENTS,
    group_name="extract",
    description="Usage events copied from the API's outbox (append-only, idempotent on event_id).",
    kinds={"python", "duckdb"},
)
def raw_usage_events(
    context: AssetExecutionContext, oltp: OltpResource, warehouse: WarehouseResource
) -> MaterializeResult:
    stats = extract_usage_events(oltp, warehouse, log=context.log)
    return MaterializeResult(
        metadata={
            "rows_read": MetadataValue.int(stats["read"]),
            "rows_inserted": MetadataValue.int(stats["inserted"]),
            "cursor_id": MetadataValue.int(stats["cursor"]),
            "rows_total": MetadataValue.int(stats["total"]),
        }
    )
