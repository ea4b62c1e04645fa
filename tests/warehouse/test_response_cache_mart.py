"""mart_response_cache_daily (decision 0057) run by DuckDB over hand-made staged events, published as a
serving file, and read by `warehouse.queries.response_cache`: hits, misses, the hit ratio and the provider
cost saved, by day; a serving copy from before the mart reads as nothing cached."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import duckdb

from warehouse import queries

MART = Path(__file__).resolve().parents[2] / "dbt" / "models" / "marts" / "mart_response_cache_daily.sql"
EVENTS = [  # day, type, model, role, properties
    ("2026-11-01", "llm.call_succeeded", "mock-small", None, {"cache": "miss"}),
    (
        "2026-11-01",
        "llm.call_succeeded",
        "mock-small",
        None,
        {"cache": "hit", "saved_cost_usd": "0.00120000"},
    ),
    (
        "2026-11-01",
        "llm.call_succeeded",
        "mock-small",
        None,
        {"cache": "hit", "saved_cost_usd": "0.00120000"},
    ),
    ("2026-11-01", "llm.call_succeeded", "mock-small", None, {}),  # the cache off: not counted
    ("2026-11-01", "llm.call_failed", "mock-small", None, {"reference": "x"}),
    ("2026-11-02", "llm.call_succeeded", "mock-large", "paraphrase", {"cache": "miss", "stream": True}),
]


def _serving(tmp_path: Path, with_mart: bool = True) -> Path:
    path = tmp_path / "serving.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        if not with_mart:
            return path
        con.execute(
            "CREATE TABLE stg_usage_events (event_date DATE, event_type VARCHAR, model_id VARCHAR, "
            "role_id VARCHAR, properties JSON)"
        )
        con.executemany(
            "INSERT INTO stg_usage_events VALUES (?, ?, ?, ?, ?)",
            [(d, t, m, r, json.dumps(p)) for d, t, m, r, p in EVENTS],
        )
        sql = re.sub(r"\{\{ ref\('stg_usage_events'\) \}\}", "stg_usage_events", MART.read_text())
        con.execute(f"CREATE TABLE marts.mart_response_cache_daily AS {sql}")
    return path


def test_the_mart_counts_hits_misses_and_the_cost_saved(tmp_path):
    path = _serving(tmp_path)
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT day, model_id, role_id, hits, misses, saved_cost_usd::VARCHAR "
            "FROM marts.mart_response_cache_daily ORDER BY day"
        ).fetchall()
    assert rows == [
        (date(2026, 11, 1), "mock-small", "(none)", 2, 1, "0.00240000"),
        (date(2026, 11, 2), "mock-large", "paraphrase", 0, 1, "0.00000000"),
    ]
    assert queries.response_cache(path=path) == {
        "hits": 2.0, "misses": 2.0, "hit_ratio": 0.5, "saved_cost_usd": 0.0024,
    }  # fmt: skip
    first_day = queries.response_cache(date(2026, 11, 1), date(2026, 11, 1), path=path)
    assert first_day["hit_ratio"] == 2 / 3
    assert queries.response_cache(date(2026, 12, 1), None, path=path)["hit_ratio"] is None


def test_a_serving_copy_from_before_the_mart_reads_as_nothing_cached(tmp_path):
    path = _serving(tmp_path, with_mart=False)
    assert queries.response_cache(path=path) == {
        "hits": 0.0, "misses": 0.0, "hit_ratio": None, "saved_cost_usd": 0.0,
    }  # fmt: skip
