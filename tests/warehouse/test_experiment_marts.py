"""The experiments' comparison (decision 0060) over a fixed event set (tests/support/experiments.py), held
to figures worked out here independently of the SQL: Wilson and Newcombe intervals with Python's math,
percentile intervals from sorted lists, Welch's interval from the statistics module; and what must not
count (staff tests, the caller's or the plan's model, cache hits, other calls) does not."""

from __future__ import annotations

import math
import statistics

import duckdb
import pytest

from tests.support import experiments

Z = statistics.NormalDist().inv_cdf(0.975)


def wilson(successes: int, trials: int) -> tuple[float, float]:
    p = successes / trials
    centre = (p + Z * Z / (2 * trials)) / (1 + Z * Z / trials)
    half = Z / (1 + Z * Z / trials) * math.sqrt(p * (1 - p) / trials + Z * Z / (4 * trials * trials))
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """The interval of p2 - p1 (Newcombe's method 10, from the two Wilson intervals)."""
    (l1, u1), (l2, u2), p1, p2 = wilson(x1, n1), wilson(x2, n2), x1 / n1, x2 / n2
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def percentile(values: list[int], p: float) -> tuple[int, int | None, int | None]:
    """Nearest rank, with the order statistics that bound it at 95 % (None: a rank outside 1..n)."""
    ordered, n = sorted(values), len(values)
    spread = Z * math.sqrt(n * p * (1 - p))
    low, high = math.floor(n * p - spread), math.ceil(n * p + spread)
    return (
        ordered[math.ceil(n * p) - 1],
        ordered[low - 1] if low >= 1 else None,
        ordered[high - 1] if high <= n else None,
    )


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    mean, half = statistics.fmean(values), Z * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    events, held = experiments.fixed_events()
    path = tmp_path_factory.mktemp("experiments") / "warehouse.duckdb"
    experiments.build(path, events)
    with duckdb.connect(str(path), read_only=True) as con:

        def rows(sql: str) -> list[dict]:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

        variants = {r["variant"]: r for r in rows("SELECT * FROM marts.mart_experiment_variants")}
        comparisons = {
            (r["variant"], r["metric"]): r for r in rows("SELECT * FROM marts.mart_experiment_comparisons")
        }
        settings = con.execute("SELECT * FROM marts.mart_experiment_settings").fetchall()
    return variants, comparisons, settings, held


def test_counts_leave_out_staff_tests_excluded_calls_and_cache_hits(built):
    variants, _, settings, _ = built
    assert set(variants) == {"A", "B", "C", "D"}  # the calls of no experiment make no row
    assert {v["experiment_id"] for v in variants.values()} == {experiments.EXPERIMENT}
    a, b = variants["A"], variants["B"]
    # A: 190 completions and 10 failures; its 20 staff tests and 10 calls on another model do not count.
    assert (a["calls"], a["users"], a["errors"], a["excluded"], a["cache_hits"]) == (200, 20, 10, 10, 0)
    assert (b["calls"], b["users"], b["errors"], b["excluded"], b["cache_hits"]) == (200, 25, 30, 0, 12)
    # The excluded calls' cost (1 USD) and latency (99,999 ms), and the hits' 1 ms, show nowhere.
    assert a["cost_per_call_usd"] == pytest.approx(0.002) and b["cost_per_call_usd"] == pytest.approx(0.001)
    assert a["latency_p95_high"] < 99_999 and b["latency_p50_low"] > 1
    assert settings == [(0.95, pytest.approx(Z), "A", 30, 10)]  # the dbt vars of dbt_project.yml


def test_each_variants_figures_and_intervals_match_an_independent_computation(built):
    variants, _, _, held = built
    a = variants["A"]
    assert a["error_rate"] == 0.05
    assert (a["error_rate_low"], a["error_rate_high"]) == pytest.approx(wilson(10, 200), abs=1e-12)
    assert (variants["B"]["error_rate_low"], variants["B"]["error_rate_high"]) == pytest.approx(
        wilson(30, 200), abs=1e-12
    )
    assert variants["C"]["error_rate_low"] == 0  # no error in 5: the interval still reaches 43 %
    latencies = [c["latency_ms"] for c in held["a_ok"]]
    for p, column in ((0.5, "latency_p50"), (0.95, "latency_p95")):
        assert (a[f"{column}_ms"], a[f"{column}_low"], a[f"{column}_high"]) == percentile(latencies, p)
    assert percentile(latencies, 0.5) == (950, 810, 1090)
    # D's 40 latencies: the p95's upper rank (41) is past the last, so its upper bound is open.
    d_p95 = percentile([c["latency_ms"] for c in held["d_ok"]], 0.95)
    assert d_p95[2] is None and variants["D"]["latency_p95_high"] is None
    assert (variants["D"]["latency_p95_ms"], variants["D"]["latency_p95_low"]) == d_p95[:2]

    tokens = [c["input_tokens"] + c["output_tokens"] for c in held["a_ok"]]
    assert (a["tokens_per_call"], a["tokens_per_call_low"], a["tokens_per_call_high"]) == pytest.approx(
        mean_interval(tokens)
    )
    costs = [float(c["cost_usd"]) for c in held["a_ok"]]
    assert (a["cost_per_call_usd"], a["cost_per_call_low"], a["cost_per_call_high"]) == pytest.approx(
        mean_interval(costs)
    )
    # Scores joined to their calls by the completion id: A's first completion counts once, by its latest
    # (positive) score; the excluded call's score is nobody's.
    assert (a["feedback_count"], a["feedback_positive_share"]) == (40, 0.75)
    positive = (a["feedback_positive_low"], a["feedback_positive_high"])
    assert positive == pytest.approx(wilson(30, 40), abs=1e-12)
    assert [variants[v]["feedback_count"] for v in "BCD"] == [40, 2, 0]
    assert variants["D"]["feedback_positive_share"] is None


def test_b_against_a_is_worse_on_errors_latency_and_feedback_and_better_on_cost(built):
    _, comparisons, _, held = built
    errors = comparisons[("B", "error_rate")]
    values = (errors["control_value"], errors["value"], errors["difference"])
    assert values == pytest.approx((0.05, 0.15, 0.1))
    assert errors["relative"] == pytest.approx(2.0)
    assert (errors["low"], errors["high"]) == pytest.approx(newcombe(10, 200, 30, 200), abs=1e-12)
    assert errors["versus"] == "A" and errors["outcome"] == "worse"

    cost = comparisons[("B", "cost_per_call_usd")]
    a_costs, b_costs = ([float(c["cost_usd"]) for c in held[k]] for k in ("a_ok", "b_ok"))
    se = math.sqrt(statistics.variance(a_costs) / len(a_costs) + statistics.variance(b_costs) / len(b_costs))
    assert (cost["low"], cost["high"]) == pytest.approx((-0.001 - Z * se, -0.001 + Z * se))
    assert cost["outcome"] == "better"  # cheaper is better for the business

    assert comparisons[("B", "tokens_per_call")]["outcome"] == "no_difference"  # the same tokens
    for metric in ("latency_p50_ms", "latency_p95_ms"):  # the intervals do not overlap
        assert comparisons[("B", metric)]["outcome"] == "worse"
        assert comparisons[("B", metric)]["low"] is None and comparisons[("B", metric)]["high"] is None
    feedback = comparisons[("B", "feedback_positive_share")]
    assert (feedback["low"], feedback["high"]) == pytest.approx(newcombe(30, 40, 10, 40), abs=1e-12)
    assert feedback["outcome"] == "worse"  # fewer positive scores


def test_too_few_below_the_minimum_and_no_difference_when_intervals_overlap(built):
    _, comparisons, _, _ = built
    assert {row["outcome"] for (variant, _), row in comparisons.items() if variant == "C"} == {"too_few"}
    c_errors = comparisons[("C", "error_rate")]
    assert (c_errors["variant_n"], c_errors["min_n"]) == (5, 30)
    d = {metric: row["outcome"] for (variant, metric), row in comparisons.items() if variant == "D"}
    assert d == {
        "error_rate": "no_difference",  # 0 of 40 against 10 of 200: the interval crosses zero
        "latency_p50_ms": "no_difference",  # D's interval 830-970 ms overlaps A's 810-1090
        "latency_p95_ms": "no_difference",  # D's upper bound is open
        "tokens_per_call": "better",  # 120 against 140
        "cost_per_call_usd": "no_difference",  # the same costs
        "feedback_positive_share": "too_few",  # no score
    }
    assert len(comparisons) == 3 * 6  # B, C and D against A, six metrics each
