"""Scores given through the API reach the warehouse (decision 0054): the published world's scores
(tests/support/world.py FEEDBACK) in mart_feedback_daily, by the scored calls' model, role and plan."""

from __future__ import annotations

import duckdb

from tests.support.world import FEEDBACK, published_copy
from warehouse import queries
from warehouse.settings import WarehouseSettings


def test_the_worlds_scores_are_in_the_mart_by_the_calls_model_role_provider_and_plan(
    published_template, tmp_path
):
    serving = WarehouseSettings(
        data_dir=published_copy(published_template, tmp_path / "world").data_dir
    ).serving_path
    with duckdb.connect(str(serving), read_only=True) as con:
        rows = con.execute(
            "SELECT model_id, role_id, role_version, provider, plan, scores, ratings_up, ratings_down, "
            "values_count, values_sum, positive, share_positive FROM marts.mart_feedback_daily"
        ).fetchall()
    # ada's thumb up and bob's 2 of 5, on the day they were given: free-tier calls naming no role.
    assert len(FEEDBACK) == 2
    assert [r[:5] for r in rows] == [("mock-small", "(none)", 0, "mock", "free")]
    assert [float(x) for x in rows[0][5:]] == [2, 1, 0, 1, 2, 1, 0.5]
    by_plan = queries.feedback(by="plan", path=serving)
    assert by_plan[["plan", "scores", "share_positive", "value_avg"]].values.tolist() == [
        ["free", 2, 0.5, 2.0]
    ]
