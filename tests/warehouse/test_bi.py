"""The BI recipes of docs/bi.md: SQLAlchemy tools such as Superset through duckdb-engine."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.support.world import CALLS, USERS, published_copy
from warehouse.publish import publish
from warehouse.queries import daily_usage
from warehouse.settings import WarehouseSettings

MART_MODELS = sorted(p.stem for p in (Path(__file__).parents[2] / "dbt" / "models" / "marts").glob("*.sql"))


@pytest.fixture
def serving(published_template, tmp_path) -> Path:
    """A copy of the serving copy a real pipeline run published over the test world's calls."""
    settings = published_copy(published_template, tmp_path / "world")
    return WarehouseSettings(data_dir=settings.data_dir).serving_path


def _published_at(connection: sa.Connection):
    return connection.execute(sa.text("SELECT published_at FROM main._publication")).scalar_one()


def test_sqlalchemy_tools_such_as_superset_read_the_marts_through_duckdb_engine(serving):
    # The two spellings docs/bi.md gives: a read-only URI, or read_only in connect_args.
    by_uri = sa.create_engine(f"duckdb:///{serving}?access_mode=read_only", poolclass=NullPool)
    by_args = sa.create_engine(f"duckdb:///{serving}", connect_args={"read_only": True}, poolclass=NullPool)
    try:
        for engine in (by_uri, by_args):
            assert sorted(sa.inspect(engine).get_table_names(schema="marts")) == MART_MODELS
            # Columns through information_schema (Inspector.get_columns fails: see the xfail below).
            columns = pd.read_sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'marts' AND table_name = 'daily_usage' ORDER BY ordinal_position",
                engine,
            )
            assert list(columns["column_name"]) == [
                "day",
                "active_users",
                "completions",
                "input_tokens",
                "output_tokens",
            ]

            through_engine = pd.read_sql(
                "SELECT day, active_users, completions, input_tokens, output_tokens "
                "FROM marts.daily_usage ORDER BY day",
                engine,
            )
            expected = daily_usage(path=serving)
            assert through_engine.astype(str).to_dict("records") == expected.astype(str).to_dict("records")
            assert len(expected) == 1
            assert expected.iloc[0]["active_users"] == USERS and expected.iloc[0]["completions"] == CALLS
            assert expected.iloc[0]["input_tokens"] > 0

            dau = pd.read_sql("SELECT day, dau FROM marts.mart_active_users_daily ORDER BY day", engine)
            assert list(dau["dau"]) == list(expected["active_users"])

            with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="read-only"):
                connection.execute(sa.text("CREATE TABLE marts.scratch (x INTEGER)"))
    finally:
        by_uri.dispose()
        by_args.dispose()


@pytest.mark.xfail(
    strict=True,
    raises=sa.exc.ProgrammingError,
    reason="duckdb-engine 0.17.0 reflects columns with SQLAlchemy's PostgreSQL query, which reads "
    "pg_catalog.pg_collation since SQLAlchemy 2.0.45 (duckdb_engine issue #1391); docs/bi.md says so",
)
def test_column_reflection_through_duckdb_engine(tmp_path):
    path = tmp_path / "serving.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.daily_usage (day DATE, active_users BIGINT)")
    engine = sa.create_engine(f"duckdb:///{path}?access_mode=read_only", poolclass=NullPool)
    try:
        columns = sa.inspect(engine).get_columns("daily_usage", schema="marts")
    finally:
        engine.dispose()
    assert [c["name"] for c in columns] == ["day", "active_users"]


def test_a_bi_connection_does_not_block_a_publish_and_sees_it_once_reconnected(tmp_path):
    working, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    with duckdb.connect(str(working)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.daily_usage AS SELECT DATE '2026-11-01' AS day, 1 AS active_users")
    publish(working, serving)
    engine = sa.create_engine(f"duckdb:///{serving}?access_mode=read_only", poolclass=NullPool)
    try:
        with engine.connect() as open_connection:
            before = _published_at(open_connection)
            publish(working, serving)  # while a BI tool holds the file open
            assert _published_at(open_connection) == before  # it keeps reading the copy it opened
            # DuckDB shares one database per file within a process: while a connection to the old copy
            # is open, a new one in the same process joins it (docs/bi.md says so).
            with engine.connect() as joining:
                assert _published_at(joining) == before
        with engine.connect() as reconnected:  # every connection to the old copy closed
            assert _published_at(reconnected) > before
    finally:
        engine.dispose()
