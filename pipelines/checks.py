"""Reconciliation: for every day, the marts' totals (calls, tokens, cost, credits; top-ups and the money
they paid) equal the raw events'.

dbt's tests prove each model's shape; this proves that nothing was lost or counted twice between the raw
events and the marts. It blocks: when it fails, the serving copy is not published.
"""

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from pipelines.resources import WarehouseResource

USAGE_MART = AssetKey(["marts", "mart_usage_daily"])
MEASURES = ("calls", "input_tokens", "output_tokens", "cost_usd", "credits")

_RAW = """
SELECT cast(occurred_at AS DATE) AS day, count(*) AS calls,
       sum(coalesce(input_tokens, 0)) AS input_tokens, sum(coalesce(output_tokens, 0)) AS output_tokens,
       sum(coalesce(cost_usd, 0)) AS cost_usd, sum(coalesce(credits, 0)) AS credits
FROM raw.usage_events WHERE type IN ('llm.call_succeeded', 'llm.call_failed') GROUP BY 1
"""
# The same without the staff's playground calls (docs/decisions/0058): what the usage marts count.
_USERS_RAW = _RAW.replace(
    "GROUP BY 1",
    "AND NOT coalesce(cast(json_extract(properties, '$.staff_test') AS BOOLEAN), false) GROUP BY 1",
)
# Each mart that carries these totals, summed to the day: the fact holds every call, the usage marts the
# calls that are not staff tests.
_MARTS = {
    "fct_llm_calls": "SELECT day, count(*) AS calls, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(credits) AS credits "
    "FROM marts.fct_llm_calls GROUP BY day",
}
_USAGE_MARTS = {
    "mart_usage_daily": "SELECT day, sum(calls) AS calls, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(credits) AS credits "
    "FROM marts.mart_usage_daily GROUP BY day",
    "mart_geography_daily": "SELECT day, sum(calls) AS calls, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(credits) AS credits "
    "FROM marts.mart_geography_daily GROUP BY day",
}


# Revenue: the top-ups and the USD they paid, recounted from the raw events' properties; and the calls and
# their cost that the revenue mart sets against them.
_TOP_UPS_RAW = """
SELECT cast(occurred_at AS DATE) AS day, count(*) AS top_ups,
       sum(CASE WHEN upper(json_extract_string(properties, '$.currency')) = 'USD'
           THEN cast(json_extract_string(properties, '$.amount') AS DECIMAL(18, 6)) ELSE 0 END)
           AS revenue_usd
FROM raw.usage_events WHERE type = 'balance.topped_up' GROUP BY 1
"""
_REVENUE = "SELECT day, sum(top_ups) AS top_ups, sum(revenue_usd) AS revenue_usd, sum(calls) AS calls, "
_REVENUE += "sum(provider_cost_usd) AS cost_usd FROM marts.mart_revenue_daily GROUP BY day"
_CHECKS = (
    (_RAW, MEASURES, _MARTS),
    (_USERS_RAW, MEASURES, _USAGE_MARTS),
    (_TOP_UPS_RAW, ("top_ups", "revenue_usd"), {"mart_revenue_daily": _REVENUE}),
    (_RAW, ("calls", "cost_usd"), {"mart_revenue_daily": _REVENUE}),
)


def reconcile(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The (mart, day, measure, raw, mart) of every difference; empty when the marts agree with raw."""
    differences = []
    for raw, measures, marts in _CHECKS:
        differences += _differences(con, raw, measures, marts)
    return differences


def _differences(con: duckdb.DuckDBPyConnection, raw: str, measures: tuple, marts: dict) -> list[dict]:
    differences = []
    for mart, query in marts.items():
        rows = con.execute(
            f"WITH raw AS ({raw}), mart AS ({query}) "  # noqa: S608 (constant queries)
            "SELECT coalesce(raw.day, mart.day) AS day, "
            + ", ".join(f"coalesce(raw.{m}, 0), coalesce(mart.{m}, 0)" for m in measures)
            + " FROM raw FULL OUTER JOIN mart ON mart.day = raw.day ORDER BY 1"
        ).fetchall()
        for row in rows:
            for index, measure in enumerate(measures):
                expected, actual = row[1 + 2 * index], row[2 + 2 * index]
                if expected != actual:
                    differences.append(
                        {
                            "mart": mart,
                            "day": str(row[0]),
                            "measure": measure,
                            "raw": str(expected),
                            "mart_value": str(actual),
                        }
                    )
    return differences


@asset_check(
    asset=USAGE_MART,
    name="reconciles_with_raw_events",
    blocking=True,
    description="For every day, calls, tokens, cost, credits, top-ups and revenue in the marts equal "
    "those of the raw events.",
)
def reconciles_with_raw_events(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.exclusive(), duckdb.connect(warehouse.warehouse_path, read_only=True) as con:
        differences = reconcile(con)
        (days,) = con.execute(f"SELECT count(*) FROM ({_RAW})").fetchone()  # noqa: S608
    return AssetCheckResult(
        passed=not differences,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "days_checked": MetadataValue.int(days),
            "differences": MetadataValue.int(len(differences)),
            "first_differences": MetadataValue.json(differences[:20]),
        },
    )
