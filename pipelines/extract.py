"""Extract: new `usage_events` rows from the OLTP database into `raw.usage_events` in DuckDB, exactly once.

**What "new" means.** A row's `id` is taken when it is inserted, but the row becomes visible when its
transaction commits, so on PostgreSQL a lower id can commit after a higher one was read: a cursor on
`max(id)` would skip it. There every row carries the id of the transaction that wrote it (`txid`, a
non-wrapping xid8, migration 0007). The extract reads in one REPEATABLE READ snapshot every row with
`txid >= cursor`, and the next cursor is that snapshot's xmin: every transaction below it has ended, so
no row with a lower txid can appear later. Rows above it that were already visible are read again next
time and skipped (they are in the window `txid >= cursor`, which is matched on `event_id`). SQLite has a
single writer at a time and takes ids inside the write lock, so its ids are in commit order and the
cursor is simply the highest id loaded.

**Kill-safety.** The rows and the new cursor are written in one DuckDB transaction: a load killed
halfway leaves the warehouse as it was, and the re-run reads the same rows again.

**Moving rows.** PostgreSQL: ADBC (COPY in binary under the hood) straight into Arrow record batches,
which DuckDB inserts without a Python loop. SQLite (the embedded default): SQLAlchemy rows turned into
Arrow batches of 50,000.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from sqlalchemy import select
from sqlalchemy.engine import make_url

from api.events.models import UsageEvent
from pipelines.resources import OltpResource, WarehouseResource

RAW_USAGE_EVENTS = AssetKey(["raw", "usage_events"])
BATCH_ROWS = 50_000
# Bumped when the raw table's shape changes: the warehouse then reloads every event from the start.
SCHEMA_VERSION = 2

# The columns as they travel (UUIDs, decimals and JSON as text; DuckDB casts them on insert).
WIRE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("txid", pa.int64()),
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
        ("cost_usd", pa.string()),
        ("credits", pa.string()),
        ("latency_ms", pa.int32()),
        ("status", pa.string()),
        ("error_code", pa.string()),
        ("country", pa.string()),
        ("client", pa.string()),
        ("properties", pa.string()),
    ]
)

RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.extract_state (
    source VARCHAR PRIMARY KEY,
    cursor BIGINT NOT NULL,
    schema_version INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.usage_events (
    id BIGINT NOT NULL,
    txid BIGINT,
    event_id VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    type VARCHAR NOT NULL,
    user_id VARCHAR,
    chat_id VARCHAR,
    role_id VARCHAR,
    model_id VARCHAR,
    provider VARCHAR,
    plan VARCHAR,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd DECIMAL(18, 8),
    credits DECIMAL(18, 6),
    latency_ms INTEGER,
    status VARCHAR,
    error_code VARCHAR,
    country VARCHAR,
    client VARCHAR,
    properties VARCHAR,
    loaded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

_PG_SELECT = """
SELECT id, txid::text::bigint AS txid, event_id::text AS event_id,
       (occurred_at AT TIME ZONE 'UTC') AS occurred_at, type, user_id::text AS user_id,
       chat_id::text AS chat_id, role_id, model_id, provider, plan, input_tokens, output_tokens,
       cost_usd::text AS cost_usd, credits::text AS credits, latency_ms, status, error_code, country,
       client, properties::text AS properties
FROM usage_events
WHERE txid >= %s::text::xid8
ORDER BY id
"""


class _PostgresSource:
    """Rows of transactions at or past the cursor, in one snapshot; the next cursor is its xmin."""

    # Rows loaded before that this run reads again: those of the re-read window (txid at or past the cursor).
    ALREADY_LOADED = "SELECT event_id FROM raw.usage_events WHERE txid >= ?"

    def __init__(self, database_url: str) -> None:
        self.uri = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    @contextmanager
    def read(self, cursor: int) -> Iterator[tuple[int, pa.RecordBatchReader]]:
        with adbc.connect(self.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                (horizon,) = cur.fetchone()
                cur.execute(_PG_SELECT.replace("%s", str(int(cursor))))
                yield horizon, cur.fetch_record_batch()
            finally:
                cur.execute("COMMIT")


class _SqliteSource:
    """Rows past the highest id loaded (SQLite commits in id order); the next cursor is the last id read."""

    # Never re-read, but matched all the same, so that a row can never be loaded twice.
    ALREADY_LOADED = "SELECT event_id FROM raw.usage_events WHERE id > ?"

    def __init__(self, oltp: OltpResource) -> None:
        self.oltp = oltp

    @contextmanager
    def read(self, cursor: int) -> Iterator[tuple[int | None, pa.RecordBatchReader]]:
        table = UsageEvent.__table__
        columns = [table.c[name] for name in WIRE_SCHEMA.names if name != "txid"]
        engine = self.oltp.engine()
        try:
            with engine.connect().execution_options(stream_results=True, yield_per=BATCH_ROWS) as conn:
                result = conn.execute(select(*columns).where(table.c.id > cursor).order_by(table.c.id))
                batches = (_to_arrow(part) for part in result.mappings().partitions(BATCH_ROWS))
                yield None, pa.RecordBatchReader.from_batches(WIRE_SCHEMA, batches)
        finally:
            engine.dispose()


def _to_arrow(rows) -> pa.RecordBatch:
    columns: dict[str, list] = {name: [] for name in WIRE_SCHEMA.names}
    for row in rows:
        for name in WIRE_SCHEMA.names:
            value = None if name == "txid" else row[name]
            if value is not None:
                if name in ("event_id", "user_id", "chat_id", "cost_usd", "credits"):
                    value = str(value)
                elif name == "occurred_at":
                    value = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
                elif name == "properties":
                    value = json.dumps(value, sort_keys=True)
            columns[name].append(value)
    return pa.RecordBatch.from_pydict(columns, schema=WIRE_SCHEMA)


def _source(oltp: OltpResource):
    url = oltp.resolved_url()
    return _PostgresSource(url) if make_url(url).get_backend_name() == "postgresql" else _SqliteSource(oltp)


def extract_usage_events(oltp: OltpResource, warehouse: WarehouseResource, log=None) -> dict[str, Any]:
    """Load every event not loaded yet; returns rows read, rows new, the cursor, the total and the time."""
    began = time.perf_counter()
    source = _source(oltp)
    with warehouse.writer() as duck:
        duck.execute(RAW_DDL)
        state = duck.execute(
            "SELECT cursor, schema_version FROM raw.extract_state WHERE source = 'usage_events'"
        ).fetchone()
        if state is not None and state[1] != SCHEMA_VERSION:  # an older layout: reload from the start
            duck.execute("DROP TABLE raw.usage_events; DELETE FROM raw.extract_state")
            duck.execute(RAW_DDL)
            state = None
        cursor = state[0] if state else 0
        read = inserted = 0
        duck.execute("BEGIN TRANSACTION")
        try:
            # The source returns each row once per run, so only rows of earlier runs can repeat: their
            # ids, taken once, are what each batch is matched against (not everything loaded so far).
            duck.execute(f"CREATE TEMP TABLE loaded AS {source.ALREADY_LOADED}", [cursor])
            with source.read(cursor) as (horizon, reader):
                for batch in reader:
                    incoming = pa.Table.from_batches([batch])  # noqa: F841 (read by DuckDB by name)
                    (added,) = duck.execute(
                        "INSERT INTO raw.usage_events BY NAME SELECT * FROM incoming "
                        "WHERE event_id NOT IN (SELECT event_id FROM loaded)"
                    ).fetchone()
                    read += batch.num_rows
                    inserted += added
                    if log:
                        log.info(f"extract: {read} rows read past cursor {cursor}")
            if horizon is None:  # SQLite: the highest id now loaded
                (horizon,) = duck.execute("SELECT coalesce(max(id), 0) FROM raw.usage_events").fetchone()
            duck.execute(
                "INSERT OR REPLACE INTO raw.extract_state VALUES ('usage_events', ?, ?, now())",
                [horizon, SCHEMA_VERSION],
            )
            duck.execute("DROP TABLE loaded; COMMIT")
        except BaseException:
            duck.execute("ROLLBACK")
            raise
        (total,) = duck.execute("SELECT count(*) FROM raw.usage_events").fetchone()
    return {
        "read": read,
        "inserted": inserted,
        "cursor": horizon,
        "total": total,
        "seconds": time.perf_counter() - began,
    }


@asset(
    key=RAW_USAGE_EVENTS,
    group_name="extract",
    description="Usage events copied from the API's outbox, each exactly once (see pipelines/extract.py).",
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
            "cursor": MetadataValue.int(stats["cursor"]),
            "rows_total": MetadataValue.int(stats["total"]),
            "seconds": MetadataValue.float(round(stats["seconds"], 3)),
        }
    )
