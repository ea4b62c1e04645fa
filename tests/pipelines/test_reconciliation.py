"""The reconciliation check finds a mart whose day totals differ from the raw events (and none when equal)."""

from __future__ import annotations

import duckdb

from pipelines.checks import reconcile


def _warehouse(con, mart_calls: int, revenue_cents: int = 10) -> None:
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE raw.usage_events AS SELECT TIMESTAMP '2026-03-02 12:00' AS occurred_at, "
        "'llm.call_succeeded' AS type, 10 AS input_tokens, 20 AS output_tokens, "
        "0.001::DECIMAL(18, 8) AS cost_usd, 0.1::DECIMAL(18, 6) AS credits, '{}'::JSON AS properties "
        "FROM range(3) UNION ALL SELECT TIMESTAMP '2026-03-02 13:00', 'balance.topped_up', NULL, NULL, NULL, "
        '10, \'{"amount": "0.10", "currency": "USD"}\'::JSON'
    )
    con.execute(  # 3 calls' cost against the top-up's 0.10 USD (or, revenue_cents=9, a cent lost)
        "CREATE TABLE marts.mart_revenue_daily AS SELECT DATE '2026-03-02' AS day, 1 AS top_ups, "
        f"{revenue_cents / 100}::DECIMAL(18, 6) AS revenue_usd, 3 AS calls, "
        "0.003::DECIMAL(18, 8) AS provider_cost_usd"
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
    with duckdb.connect() as lost_cent:
        _warehouse(lost_cent, mart_calls=3, revenue_cents=9)
        assert [(d["mart"], d["measure"], d["raw"]) for d in reconcile(lost_cent)] == [
            ("mart_revenue_daily", "revenue_usd", "0.100000")
        ]
