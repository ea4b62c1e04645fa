"""Review of the experiments' marts (decision 0060) at their edges, over a small event set built in seconds
(tests/support/experiments.py): a variant of one call, one of failures only, one of cache hits only, one of
excluded calls only, latencies and tokens all tied, an experiment without its control. Every figure is a
number or null (never NaN or infinite: the analytics route answers them as JSON), and an edge never reads
as a finding."""

from __future__ import annotations

import math
import uuid

import duckdb
import pytest

from tests.support.experiments import EXPERIMENT, build, call

NO_CONTROL = str(uuid.UUID(int=2))
TIED = str(uuid.UUID(int=3))


def _events() -> list[dict]:
    events = [call("A", 0, latency_ms=300)]  # one call
    events += [call("B", 10 + i, failed=True) for i in range(3)]  # failures only
    events += [call("C", 20 + i, provider="cache", extra={"cache": "hit"}) for i in range(2)]  # hits only
    events += [call("D", 30 + i, extra={"experiment_model": "caller"}) for i in range(2)]  # excluded only
    events += [call("E", 40 + i, latency_ms=500) for i in range(31)]  # ties, one token count
    # No control: B and C only.
    events += [call(k, 100 + i, extra={"experiment_id": NO_CONTROL}) for k in "BC" for i in range(40)]
    # Control and variant alike: every figure tied.
    events += [
        call(k, 200 + i, latency_ms=100, extra={"experiment_id": TIED}) for k in "AB" for i in range(40)
    ]
    return events


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    path = tmp_path_factory.mktemp("review-experiments") / "warehouse.duckdb"
    build(path, _events())
    with duckdb.connect(str(path), read_only=True) as con:

        def rows(table: str) -> list[dict]:
            cursor = con.execute(f"SELECT * FROM marts.{table} ORDER BY ALL")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

        yield {t: rows(t) for t in ("mart_experiment_variants", "mart_experiment_comparisons")}


def _variant(marts, experiment: str, key: str) -> dict:
    return next(
        r
        for r in marts["mart_experiment_variants"]
        if r["experiment_id"] == experiment and r["variant"] == key
    )


def test_no_figure_is_nan_or_infinite(marts):
    for table, rows in marts.items():
        for row in rows:
            bad = {k: v for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
            assert not bad, (table, row["experiment_id"], row["variant"], bad)


def test_one_call_has_its_point_and_open_intervals(marts):
    one = _variant(marts, EXPERIMENT, "A")
    assert (one["calls"], one["errors"], one["error_rate"], one["completions"]) == (1, 0, 0.0, 1)
    assert one["error_rate_low"] == 0.0 and 0.79 < one["error_rate_high"] < 0.80  # Wilson, n = 1
    assert (one["latency_p50_ms"], one["latency_p50_low"], one["latency_p50_high"]) == (300.0, None, None)
    assert one["tokens_per_call"] == 120 and one["tokens_per_call_sd"] is None
    assert one["tokens_per_call_low"] is None and one["cost_per_call_low"] is None


def test_failures_hits_or_exclusions_only_leave_the_measures_empty(marts):
    failed = _variant(marts, EXPERIMENT, "B")
    assert (failed["calls"], failed["errors"], failed["error_rate"], failed["completions"]) == (3, 3, 1.0, 0)
    assert failed["latency_calls"] == 0 and failed["latency_p50_ms"] is None
    assert failed["tokens_per_call"] is None and failed["cost_per_call_usd"] is None
    hits = _variant(marts, EXPERIMENT, "C")
    assert (hits["calls"], hits["cache_hits"], hits["error_rate"], hits["error_rate_low"]) == (
        0,
        2,
        None,
        None,
    )
    excluded = _variant(marts, EXPERIMENT, "D")
    assert (excluded["calls"], excluded["excluded"], excluded["users"]) == (0, 2, 0)
    outcomes = {
        (r["variant"], r["metric"]): r["outcome"]
        for r in marts["mart_experiment_comparisons"]
        if r["experiment_id"] == EXPERIMENT
    }
    assert {o for (v, _), o in outcomes.items() if v in "BCD"} == {"too_few"}


def test_tied_figures_read_as_no_difference_and_no_control_as_too_few(marts):
    tied = _variant(marts, EXPERIMENT, "E")
    assert (tied["latency_p50_ms"], tied["latency_p50_low"], tied["latency_p50_high"]) == (
        500.0,
        500.0,
        500.0,
    )
    assert tied["tokens_per_call_sd"] == 0 and tied["tokens_per_call_low"] == tied["tokens_per_call_high"]
    same = {
        r["metric"]: (r["outcome"], r["difference"])
        for r in marts["mart_experiment_comparisons"]
        if r["experiment_id"] == TIED
    }
    assert {m: o for m, (o, _) in same.items() if m != "feedback_positive_share"} == dict.fromkeys(
        ["error_rate", "latency_p50_ms", "latency_p95_ms", "tokens_per_call", "cost_per_call_usd"],
        "no_difference",
    )
    assert {d for m, (_, d) in same.items() if m != "feedback_positive_share"} == {0.0}
    orphans = [r for r in marts["mart_experiment_comparisons"] if r["experiment_id"] == NO_CONTROL]
    assert orphans and {r["outcome"] for r in orphans} == {"too_few"}
    assert {r["control_n"] for r in orphans} == {None}
