"""The reconciliation check finds a mart whose day totals differ from the raw events (and none when equal)."""

from __future__ import annotations

import duckdb

from pipelines.checks import reconcile


def _warehouse(con, mart_calls: int) -> None:
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE raw.usage_events AS SELECT TIMESTAMP '2026-03-02 12:00' AS occurred_at, "
        "'llm.call_succeeded' AS type, 10 AS input_tokens, 20 AS output_tokens, "
        "0.001::DECIMAL(18, 8) AS cost_usd, 0.1::DECIMAL(18, 6) AS credits FROM range(3)"
    )
    for mart in ("mart_usage_daily", "mart_geography_daily"):
        con.execute(
            f"CREATE TABLE marts.{mart} AS SELECT DATE '2026-03-02' AS day, {mart_calls} AS calls, "
            f"{10 * mart_calls} AS input_tokens, {20 * mart_calls} AS output_tokens, "
            f"{0.001 * mart_calls}::DECIMAL(18, 8) AS cost_usd, {0.1 * mart_calls}::DECIMAL(18, 6) AS credits"
        )
    con.execute(
        "CREATE TABLE marts.fct_llm_calls AS SELECT DATE '2026-03-02' AS day, 10 AS input_tokens, "
        "20 AS output_tokens, 0.001::DECIMAL(18, 8) AS cost_usd, 0.1::DECIMAL(18, 6) AS credits FROM range(3)"
    )


def test_reconcile_is_silent_when_the_marts_agree_and_names_every_difference_otherwise():
    with duckdb.connect() as agreeing:
        _warehouse(agreeing, mart_calls=3)
        assert reconcile(agreeing) == []
    with duckdb.connect() as short:
        _warehouse(short, mart_calls=2)  # one call lost on the way to two marts
        differences = reconcile(short)
    assert {(d["mart"], d["measure"]) for d in differences} == {
        (mart, measure)
        for mart in ("mart_usage_daily", "mart_geography_daily")
        for measure in ("calls", "input_tokens", "output_tokens", "cost_usd", "credits")
    }
    assert all(d["day"] == "2026-03-02" for d in differences)
