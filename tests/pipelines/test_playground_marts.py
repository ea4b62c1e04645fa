"""A staff member's playground call (docs/decisions/0058) reaches the warehouse as a provider cost and
nothing else: the call fact and the revenue mart's provider cost count it, DAU, completions and the usage
marts do not, and the marts still reconcile with the raw events (the fresh lane checks it before it
publishes)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from pipelines.fresh import FreshLane
from tests.support.api import staff_headers
from tests.support.world import CALLS, published_copy
from warehouse.queries import daily_usage, kpis


@pytest.fixture
def settings(published_template, tmp_path):
    """A copy of the test run's published world (tests/support/world.py): USERS end users, CALLS calls."""
    return published_copy(published_template, tmp_path)


def _marts(path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            "calls": con.execute("SELECT count(*) FROM marts.fct_llm_calls").fetchone()[0],
            "staff_tests": con.execute(
                "SELECT count(*) FROM marts.fct_llm_calls WHERE staff_test"
            ).fetchone()[0],
            "usage_calls": con.execute("SELECT sum(calls) FROM marts.mart_usage_daily").fetchone()[0],
            "provider_cost": con.execute(
                "SELECT sum(provider_cost_usd) FROM marts.mart_revenue_daily"
            ).fetchone()[0],
            "usage_cost": con.execute("SELECT sum(cost_usd) FROM marts.mart_usage_daily").fetchone()[0],
        }


def test_a_playground_call_is_a_provider_cost_but_changes_no_dau_or_completions(
    client, settings, warehouse_settings
):
    lane = FreshLane.of(warehouse_settings, settings.database_url)
    lane.prepare()
    # The admin signs in first: the fresh lane leaves the accounts to the full refresh, so until then the
    # warehouse does not know them as staff and counts the sign-in. The call itself is left out by its
    # staff_test mark alone.
    admin = staff_headers(client, settings, "admin")
    assert lane.run().publication is not None
    serving = warehouse_settings.serving_path
    before = (kpis(path=serving), int(daily_usage(path=serving)["completions"].sum()))
    assert before[1] == CALLS

    asked = {
        "model": "mock-large",
        "system_prompt": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    answer = client.post("/api/v1/admin/playground", headers=admin, json=asked)
    assert answer.status_code == 200, answer.text
    cost = Decimal(answer.json()["cost_usd"])
    assert cost > 0
    run = lane.run()
    assert run.publication is not None  # extracted, rebuilt, reconciled, published

    after = (kpis(path=serving), int(daily_usage(path=serving)["completions"].sum()))
    assert after[1] == CALLS and after[0]["dau"] == before[0]["dau"]
    assert after[0]["calls"] == before[0]["calls"] and after[0]["cost_usd"] == before[0]["cost_usd"]
    marts = _marts(serving)
    assert marts["calls"] == CALLS + 1 and marts["staff_tests"] == 1 and marts["usage_calls"] == CALLS
    assert marts["provider_cost"] == marts["usage_cost"] + cost  # the operator's bill counts it
