"""The request explorer's model and status filters read their partial indexes in keyset order (migration 0024,
docs/decisions/0046): shown with PostgreSQL's own plan of the explorer's query, as the API sends it, on a
table of 100,000 events where the filtered model is rare. Without the indexes the plan walks the primary
key (or the whole table) instead. Checked as a one-off statement and as the prepared statement psycopg
makes of a query it has run five times, after as many runs: PostgreSQL would then switch it to a generic
plan that walks the primary key for a rare model, so the explorer asks for custom plans (`CUSTOM_PLANS`),
and the API's own page query is shown never to get a generic one. A rare model's few rows may be read as a
bitmap and sorted; either way through the index."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg

from api.calls.repository import CUSTOM_PLANS, CallFilter, calls_query, page
from api.core.db import Database, make_sync_engine
from api.events.models import UsageEvent

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

ROWS = 100_000
# One event in ten is not a call; one model in a thousand calls is the rare one; one call in fifty failed.
FILL = f"""
INSERT INTO usage_events (event_id, occurred_at, type, model_id, status, properties)
SELECT gen_random_uuid(), now() - g * interval '1 second',
       CASE WHEN g % 10 = 0 THEN 'message.sent' WHEN g % 50 = 1 THEN 'llm.call_failed'
            ELSE 'llm.call_succeeded' END,
       CASE WHEN g % 1000 = 7 THEN 'rare-model' ELSE 'model-' || (g % 20) END,
       CASE WHEN g % 50 = 1 THEN 'error' ELSE 'ok' END,
       '{{}}'
FROM generate_series(1, {ROWS}) AS g
"""


@pytest.fixture
def filled(settings):
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(text(FILL))
        conn.execute(text("ANALYZE usage_events"))
    yield engine
    engine.dispose()


def _plans(engine, f: CallFilter, before: int) -> dict[str, str]:
    """The plan of the explorer's page query (`before`, 50 rows): as a one-off statement with the values
    in it, and as a prepared statement after it has run often enough for PostgreSQL to plan it for good."""
    query = calls_query(f).where(UsageEvent.id < before).limit(50)
    compiled = query.compile(dialect=asyncpg.dialect())  # $1, $2, ...: the placeholders PREPARE takes
    values = [compiled.params[name] for name in compiled.positiontup]
    literals = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
    with engine.connect() as conn:
        conn.exec_driver_sql(CUSTOM_PLANS)
        conn.exec_driver_sql(f"PREPARE explorer AS {compiled}")
        once = conn.exec_driver_sql(f"EXPLAIN EXECUTE explorer({literals})").scalars().all()
        for _ in range(6):
            conn.exec_driver_sql(f"EXECUTE explorer({literals})").all()
        prepared = conn.exec_driver_sql(f"EXPLAIN EXECUTE explorer({literals})").scalars().all()
        conn.rollback()
    return {"once": "\n".join(once), "prepared": "\n".join(prepared)}


@pytest.mark.parametrize(
    ("f", "index"),
    [
        (CallFilter(model_id="rare-model"), "ix_usage_events_calls_model_id"),
        (CallFilter(status="error"), "ix_usage_events_calls_status"),
    ],
    ids=["model", "status"],
)
def test_a_filtered_explorer_page_reads_its_index_newest_first(filled, f, index):
    for kind, plan in _plans(filled, f, before=ROWS // 2).items():
        assert f"Index Scan Backward using {index}" in plan or f"Bitmap Index Scan on {index}" in plan, (
            f"{kind} plan:\n{plan}"
        )
        assert "Seq Scan on usage_events" not in plan and "usage_events_pkey" not in plan, plan


async def test_the_apis_page_query_is_planned_for_its_values_however_often_it_runs(filled, settings):
    """psycopg prepares the page query after five runs; PostgreSQL plans it generically after five more
    unless told not to. Twelve pages in one connection: every plan of every prepared statement is custom."""
    db = Database(settings)
    try:
        async with db.sessionmaker() as session:
            for before in range(ROWS, ROWS - 12, -1):
                await page(session, CallFilter(model_id="rare-model"), before=before, limit=50)
            prepared = (
                await session.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                        "WHERE statement LIKE '%FROM usage_events%'"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    assert prepared, "psycopg prepared no page query: nothing was shown"
    assert all(generic == 0 and custom > 0 for generic, custom in prepared), prepared
