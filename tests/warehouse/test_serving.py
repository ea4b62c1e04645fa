"""The serving copy under load and for other readers: atomic publishes, and files DuckDB 1.4 opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from bench.venvs import PinnedVenvError, pinned_venv
from tests.support.world import USERS, published_copy
from warehouse.publish import publish
from warehouse.queries import connect_serving
from warehouse.settings import WarehouseSettings

READS = 1_000
PUBLISHES = 20
READS_BETWEEN_PUBLISHES = 40  # the reader opens each copy at least this often before it is replaced

# The DuckDB of the BI drivers (JDBC/ODBC 1.4.x), in a virtualenv of its own kept between runs.
DUCKDB_14 = "1.4.5"
# Its pin with the hash of every file (`make lock` writes it): the test's virtualenv installs nothing else.
DUCKDB_14_REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "duckdb14.txt"


# --- a reader loop while the marts are published again and again -------------------------------------


def _build_version(path: Path, version: int) -> None:
    """Marts whose content depends on `version` and that agree with each other within one version."""
    rows = 100 + 10 * version
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE SCHEMA IF NOT EXISTS staging")
        con.execute(
            "CREATE OR REPLACE TABLE marts.facts AS "
            "SELECT ? AS version, i AS id, i * ? AS amount FROM range(?) AS r(i)",
            [version, version + 1, rows],
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.summary AS "
            "SELECT any_value(version) AS version, count(*) AS rows, sum(amount) AS total FROM marts.facts"
        )
        con.execute("CREATE OR REPLACE TABLE staging.scratch AS SELECT ? AS version", [version])


def _expected(version: int) -> tuple[int, int, int]:
    rows = 100 + 10 * version
    return version, rows, (version + 1) * rows * (rows - 1) // 2


def _read_once(serving: Path) -> int:
    with connect_serving(serving) as con:
        return _read_once_on(con)


def _read_once_on(con: duckdb.DuckDBPyConnection) -> int:
    """One reader's query: one version throughout, and the summary agrees with the facts."""
    found = con.execute(
        """
        SELECT f.low, f.high, f.rows, f.total, s.version, s.rows, s.total, p.tables
        FROM (SELECT min(version) AS low, max(version) AS high, count(*) AS rows, sum(amount) AS total
              FROM marts.facts) AS f, marts.summary AS s, main._publication AS p
        """
    ).fetchall()
    assert len(found) == 1, found
    low, high, *facts, tables = found[0]
    assert low == high, f"versions {low}..{high} mixed in one table"
    assert facts == [*_expected(low)[1:], *_expected(low)], found
    assert tables == ["marts.facts", "marts.summary"], tables
    return low


def test_a_reader_loop_of_1000_queries_during_20_publishes_sees_0_errors(tmp_path):
    working, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _build_version(working, 0)
    publish(working, serving)

    reads = 0
    errors: list[str] = []
    seen: set[int] = set()

    publishing = threading.Event()
    publishing.set()

    def reader() -> None:  # reads while the publishes go on, and at least READS times
        nonlocal reads
        while publishing.is_set() or reads < READS:
            try:
                seen.add(_read_once(serving))
            except Exception as exc:  # every failure counts, whatever it is
                errors.append(f"{type(exc).__name__}: {exc}")
            reads += 1

    thread = threading.Thread(target=reader, daemon=True)
    started = time.monotonic()
    thread.start()
    for version in range(1, PUBLISHES + 1):
        # Let the reader open the copy published last a few times before replacing it.
        wait_for = reads + READS_BETWEEN_PUBLISHES
        deadline = time.monotonic() + 60
        while reads < wait_for and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert thread.is_alive(), f"the reader finished before publish {version}; errors: {errors[:3]}"
        _build_version(working, version)
        publish(working, serving)
    last = reads + READS_BETWEEN_PUBLISHES  # and the last copy too
    while reads < last and thread.is_alive():
        time.sleep(0.001)
    publishing.clear()
    thread.join(timeout=120)
    elapsed = time.monotonic() - started

    assert not thread.is_alive(), "the reader hung"
    assert reads >= READS
    assert errors == [], f"{len(errors)} reader errors in {elapsed:.1f}s, first: {errors[:3]}"
    assert seen == set(range(PUBLISHES + 1)), sorted(seen)
    assert not list(tmp_path.glob(".*.tmp"))


def test_overlapping_readers_in_one_process_see_a_new_publication(tmp_path):
    working, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _build_version(working, 0)
    publish(working, serving)
    held = connect_serving(serving)  # a request still running
    try:
        for version in range(1, 4):
            _build_version(working, version)
            publish(working, serving)
            newer = connect_serving(serving)  # a request that started after the publish
            held.close()
            held = newer
            assert _read_once_on(held) == version
    finally:
        held.close()


# --- a file published by the real pipeline, opened by DuckDB 1.4 -----------------------------------------


def _duckdb14_venv() -> Path:
    """A virtualenv with DuckDB 1.4, made once and kept in the user's cache (outside the work tree)."""
    root = os.environ.get("AIADMIN_DUCKDB14_VENV")
    if root:
        venv = Path(root)
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        venv = cache / "aiadmin" / f"venv-duckdb-{DUCKDB_14}"
    try:
        return pinned_venv(venv, DUCKDB_14_REQUIREMENTS)
    except PinnedVenvError as error:
        pytest.skip(f"cannot make a virtualenv with duckdb=={DUCKDB_14} (offline?): {error}")


# Every table of the file, read whole: the DuckDB version, and each table's rows and columns.
_READ_EVERY_TABLE = """
import json, sys
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute(
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_type = 'BASE TABLE' ORDER BY ALL"
).fetchall()
seen = {}
for schema, table in tables:
    rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
    seen[f"{schema}.{table}"] = [len(rows), [d[0] for d in con.description]]
print(json.dumps({"version": duckdb.__version__, "tables": seen}))
"""


def _read_every_table(python: Path | str, path: Path) -> dict:
    result = subprocess.run(
        [str(python), "-c", _READ_EVERY_TABLE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_file_published_by_the_pipeline_opens_in_duckdb_1_4(published_template, tmp_path):
    python = _duckdb14_venv()
    settings = published_copy(published_template, tmp_path / "world")
    serving = WarehouseSettings(data_dir=settings.data_dir).serving_path

    read_by_14 = _read_every_table(python, serving)
    read_here = _read_every_table(sys.executable, serving)

    assert read_by_14["version"].startswith("1.4."), read_by_14["version"]
    assert read_here["version"] == duckdb.__version__ and not read_here["version"].startswith("1.4.")
    assert read_by_14["tables"] == read_here["tables"]
    here = read_here["tables"]
    marts = {name: count for name, (count, _columns) in here.items() if name.startswith("marts.")}
    models = (Path(__file__).parents[2] / "dbt" / "models" / "marts").glob("*.sql")
    assert sorted(marts) == sorted(f"marts.{model.stem}" for model in models)
    assert marts["marts.daily_usage"] == 1 and marts["marts.mart_user_facts"] == USERS
    assert here["main._publication"][0] == 1
