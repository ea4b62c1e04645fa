"""The extract loses nothing and counts nothing twice: late commits on PostgreSQL, concurrent writers, and a
load killed with SIGKILL halfway."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import duckdb
import pytest
from sqlalchemy import func, insert, select, text

from api.core.db import make_sync_engine
from api.core.types import utcnow
from api.events.models import UsageEvent
from pipelines.extract import BATCH_ROWS, extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource

EVENTS = UsageEvent.__table__


def _resources(settings, warehouse_settings):
    return OltpResource(database_url=settings.database_url), WarehouseResource(
        warehouse_path=str(warehouse_settings.warehouse_path),
        serving_path=str(warehouse_settings.serving_path),
    )


def _event() -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": utcnow(), "type": "message.sent", "properties": {}}


def _raw(warehouse_settings, sql: str):
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _oltp_event_ids(engine) -> set[str]:
    with engine.connect() as conn:
        return {str(v) for v in conn.execute(select(EVENTS.c.event_id)).scalars()}


# Commits out of id order happen on PostgreSQL; SQLite has one writer at a time.
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.mark.postgres
@on_postgres
def test_a_lower_id_that_commits_after_a_higher_one_was_loaded_is_still_loaded(settings, warehouse_settings):
    oltp, warehouse = _resources(settings, warehouse_settings)
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as slow:
            slow.begin()
            low = slow.execute(insert(EVENTS).values(_event()).returning(EVENTS.c.id)).scalar_one()
            with engine.begin() as fast:  # a later id, committed first
                high = fast.execute(insert(EVENTS).values(_event()).returning(EVENTS.c.id)).scalar_one()
            first = extract_usage_events(oltp, warehouse)
            slow.commit()
        second = extract_usage_events(oltp, warehouse)
    finally:
        engine.dispose()
    assert low < high
    assert first["inserted"] == 1  # only `high` was visible
    assert second["inserted"] == 1  # `low`, although a higher id was loaded before it
    assert sorted(r[0] for r in _raw(warehouse_settings, "SELECT id FROM raw.usage_events")) == [low, high]


@pytest.mark.postgres
@on_postgres
def test_concurrent_writers_committing_out_of_order_lose_nothing_and_repeat_nothing(
    settings, warehouse_settings
):
    oltp, warehouse = _resources(settings, warehouse_settings)
    engine = make_sync_engine(settings)
    stop = threading.Event()

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(insert(EVENTS).values([_event() for _ in range(rnd.randint(1, 5))]))
                time.sleep(rnd.uniform(0, 0.03))  # hold the ids taken, commit after later ones

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(8)]
    for thread in writers:
        thread.start()
    try:
        loads = [extract_usage_events(oltp, warehouse) for _ in range(25)]
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    loads.append(extract_usage_events(oltp, warehouse))
    try:
        expected = _oltp_event_ids(engine)
    finally:
        engine.dispose()

    loaded = [r[0] for r in _raw(warehouse_settings, "SELECT event_id FROM raw.usage_events")]
    assert len(loaded) == len(set(loaded)) == len(expected) > 100
    assert set(loaded) == expected
    assert sum(load["inserted"] for load in loads) == len(expected)
    # The scenario really happened: some load brought rows with ids below an id loaded before it.
    late = _raw(
        warehouse_settings,
        "SELECT count(*) FROM raw.usage_events r WHERE r.id < "
        "(SELECT max(id) FROM raw.usage_events e WHERE e.loaded_at < r.loaded_at)",
    )[0][0]
    assert late > 0


_CHILD = """
import sys
from pipelines.extract import extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource

class Log:
    def info(self, message):
        print(message, flush=True)

extract_usage_events(
    OltpResource(database_url=sys.argv[1]),
    WarehouseResource(warehouse_path=sys.argv[2], serving_path=sys.argv[3]),
    log=Log(),
)
print("done", flush=True)
"""


def _bulk_events(settings, engine, count: int) -> None:
    if settings.database_url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO usage_events (event_id, occurred_at, type, user_id, properties) "
                    "SELECT gen_random_uuid(), now() - (g % 90) * interval '1 day', 'message.sent', "
                    "gen_random_uuid(), '{}'::jsonb FROM generate_series(1, :n) AS g"
                ),
                {"n": count},
            )
    else:
        # One row through SQLAlchemy (its way of storing each column on SQLite), copied by SQLite itself with
        # new ids: row by row from Python, 150,000 rows take half a minute.
        with engine.begin() as conn:
            conn.execute(insert(EVENTS), [_event()])
            conn.execute(
                text(
                    "WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < :n) "
                    "INSERT INTO usage_events (event_id, occurred_at, type, properties) "
                    "SELECT lower(hex(randomblob(16))), e.occurred_at, e.type, e.properties "
                    "FROM g, (SELECT * FROM usage_events LIMIT 1) AS e"
                ),
                {"n": count},
            )


@pytest.mark.both_databases  # the extract reads each database its own way
def test_an_extract_killed_halfway_leaves_nothing_and_the_rerun_loads_each_event_once(
    settings, warehouse_settings
):
    oltp, warehouse = _resources(settings, warehouse_settings)
    engine = make_sync_engine(settings)
    try:
        # Three of the extract's batches: the child is killed after the first, with two still to come.
        _bulk_events(settings, engine, 3 * BATCH_ROWS)
        with engine.connect() as conn:
            produced = conn.execute(select(func.count()).select_from(EVENTS)).scalar_one()
    finally:
        engine.dispose()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            settings.database_url,
            str(warehouse_settings.warehouse_path),
            str(warehouse_settings.serving_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    first_line = child.stdout.readline()  # one batch is in DuckDB, uncommitted
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert first_line.startswith("extract:"), first_line

    assert _raw(warehouse_settings, "SELECT count(*) FROM raw.usage_events")[0][0] == 0
    rerun = extract_usage_events(oltp, warehouse)
    assert rerun["inserted"] == rerun["total"] == produced
    assert _raw(warehouse_settings, "SELECT count(DISTINCT event_id) FROM raw.usage_events")[0][0] == produced
