"""A fixed set of events whose every figure was worked out by hand (the comments), against the marts.

Weeks start on Monday: W1 = 2 March 2026, W2 = 9 March, W3 = 16 March, W4 = 23 March. Users A and B
register in W1, C in W2; S is staff (an admin) and must never count as a user.
"""

from __future__ import annotations

import math
import os
import subprocess
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pytest

from api.accounts.models import Account
from api.events.models import UsageEvent
from tests.support.api import db_execute, staff_headers

A, B, C, S = (uuid.uuid4() for _ in range(4))
COUNTRY = {A: "DE", B: "DE", C: "FR", S: None}


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


_MEASURES = (
    "chat_id",
    "role_id",
    "model_id",
    "provider",
    "plan",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "credits",
    "latency_ms",
    "status",
    "error_code",
)


def _event(day: int, type_: str, user, hour: int = 12, **fields) -> dict:
    """Every column given (a multi-row insert takes its columns from the first row)."""
    return {
        **dict.fromkeys(_MEASURES),
        "event_id": uuid.uuid4(),
        "occurred_at": _at(day, hour),
        "type": type_,
        "user_id": user,
        "country": COUNTRY.get(user),
        "client": "web",
        "properties": fields.pop("properties", {}),
        **fields,
    }


def _call(day: int, user, model: str, tokens_in: int, tokens_out: int, cost: str, credits: str, **fields):
    return _event(
        day,
        "llm.call_succeeded",
        user,
        model_id=model,
        provider="p1",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=Decimal(cost),
        credits=Decimal(credits),
        latency_ms=fields.pop("latency_ms", 200),
        plan="pro",
        status="ok",
        **fields,
    )


def _paid(amount: str, currency: str = "USD") -> dict:
    return {"amount": amount, "currency": currency, "reference": f"topup-{uuid.uuid4().hex}"}


EVENTS = [
    # A: registers 2 Mar, a chat and two calls of m1 as role r1; logs in 3 Mar; calls m2 10 Mar, m1 24 Mar.
    _event(2, "user.registered", A, hour=9),
    _event(2, "balance.topped_up", A, credits=Decimal("10"), plan="pro", properties=_paid("0.10")),
    _event(2, "chat.created", A),
    _call(2, A, "m1", 10, 20, "0.001", "0.1", role_id="r1", latency_ms=100),
    _call(2, A, "m1", 10, 20, "0.001", "0.1", role_id="r1", latency_ms=300),
    _event(3, "user.login_succeeded", A),
    _call(10, A, "m2", 5, 5, "0.002", "0.2"),
    _call(24, A, "m1", 10, 20, "0.001", "0.1"),
    # B: registers 4 Mar; 5 Mar one failed call and one good; logs in 16 Mar.
    _event(4, "user.registered", B),
    _event(
        5,
        "llm.call_failed",
        B,
        model_id="m1",
        provider="p1",
        latency_ms=500,
        status="error",
        error_code="provider_500",
    ),
    _call(5, B, "m1", 10, 10, "0.001", "0.1"),
    # B tops up twice on 5 Mar on the free plan of that moment: 0.05 USD, and 3 in another currency.
    _event(5, "balance.topped_up", B, credits=Decimal("5"), plan="free", properties=_paid("0.05")),
    _event(5, "balance.topped_up", B, credits=Decimal("1"), plan="free", properties=_paid("3", "EUR")),
    _event(16, "user.login_succeeded", B),
    # C: registers 9 Mar in France with a call; refused by the quota 10 Mar (asking m2 as r1); a message
    # 11 Mar, in a chat, as the gateway writes it: the model and role of its call and the 8 tokens of the
    # user's words, which its call's tokens in already hold (so no token of it counts again anywhere).
    _event(9, "user.registered", C),
    _call(9, C, "m1", 20, 30, "0.003", "0.3"),
    _event(
        10,
        "quota.exceeded",
        C,
        model_id="m2",
        role_id="r1",
        plan="free",
        error_code="quota_exceeded",
        properties={"metric": "x"},
    ),
    _event(11, "message.sent", C, model_id="m1", input_tokens=8),
    # S (staff): registered and logs in every day of W1, makes one call: never a user.
    _event(2, "user.registered", S),
    *[_event(day, "user.login_succeeded", S) for day in (2, 3, 4, 5)],
    _call(3, S, "m1", 1, 1, "0.0001", "0"),
    # Someone failing to log in is nobody's activity.
    _event(3, "user.login_failed", None),
]


def _call_of(user, day: int, **match) -> dict:
    return next(
        e for e in EVENTS
        if e["type"] == "llm.call_succeeded" and e["user_id"] == user and e["occurred_at"].day == day
        and all(e[k] == v for k, v in match.items())
    )  # fmt: skip


def _scored(day: int, call: dict, role_version: int = 0, commented: bool = False, **score) -> dict:
    """A `feedback.given` as the API writes it: the call's model, role, provider and plan copied onto it."""
    properties = {"completion_id": call["event_id"].hex, "rating": None, "value": None, **score,
                  "role_version": role_version or None, "commented": commented}  # fmt: skip
    dimensions = {k: call[k] for k in ("model_id", "role_id", "provider", "plan")}
    return _event(day, "feedback.given", call["user_id"], status="ok", properties=properties, **dimensions)


A_FIRST, A_SECOND = _call_of(A, 2, latency_ms=100), _call_of(A, 2, latency_ms=300)
# Scores (decision 0054): A rates her first r1 call (version 2) up on 2 Mar and changes her mind on 3 Mar
# (down: the completion moves to 3 Mar), gives her second 5; B rates his 5 Mar call up; C gives his 9 Mar
# call a 4 with a comment on 10 Mar.
FEEDBACK = [
    _scored(2, A_FIRST, 2, rating="up"),
    _scored(3, A_FIRST, 2, rating="down"),
    _scored(2, A_SECOND, 2, value=5),
    _scored(5, _call_of(B, 5), rating="up"),
    _scored(10, _call_of(C, 9), value=4, commented=True),
]
EVENTS += FEEDBACK


def _accounts() -> list[dict]:
    return [
        {
            "id": user,
            "email": f"{name}@oracle.example.com",
            "password_hash": "x",
            "role": "admin" if user == S else "user",
            "plan_code": "pro",
            "country": COUNTRY[user],
            "is_blocked": False,
            "created_at": _at(2),
            "balance": Decimal(0),
        }
        for name, user in (("a", A), ("b", B), ("c", C), ("s", S))
    ]


# Loaded by a second run, to prove the incremental models: later days, and a day already built (3 Mar).
LATE = {
    e["event_id"]
    for e in EVENTS
    if e["occurred_at"] >= _at(10, 0)
    or (
        e["user_id"] == A
        and e["type"] in ("user.login_succeeded", "feedback.given")
        and e["occurred_at"].day == 3
    )
}


def latency_percentile(latencies: list[int], q: float) -> int | None:
    """The one latency percentile (decision 0042), worked out independently of the SQL: nearest rank
    (the value at rank ceil(q * n) in ascending order) over the successful calls' latencies, reported as
    the upper bound of its 5% bucket (1.05 ** k ms, rounded)."""
    if not latencies:
        return None
    value = sorted(latencies)[math.ceil(Decimal(str(q)) * len(latencies)) - 1]
    return round(math.exp(math.ceil(math.log(max(value, 1)) / math.log(1.05)) * math.log(1.05)))


def _dbt_full_refresh(warehouse_settings) -> None:
    from pipelines.dbt_assets import DBT_DIR, DBT_EXECUTABLE

    env = {**os.environ, "AIADMIN_WAREHOUSE_PATH": str(warehouse_settings.warehouse_path)}
    done = subprocess.run(
        [DBT_EXECUTABLE, "build", "--full-refresh", "--quiet", "--profiles-dir", "."],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _all_marts(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
            ).fetchall()
        ]
        return {
            table: sorted(con.execute(f'SELECT * FROM marts."{table}"').fetchall(), key=repr)
            for table in tables
        }


def test_incremental_runs_match_the_hand_worked_figures_and_a_full_refresh_rebuilds_them(
    settings, warehouse_settings, pipeline, client
):
    db_execute(
        settings,
        Account.__table__.insert().values(_accounts()),
        UsageEvent.__table__.insert().values([e for e in EVENTS if e["event_id"] not in LATE]),
    )
    pipeline()
    db_execute(settings, UsageEvent.__table__.insert().values([e for e in EVENTS if e["event_id"] in LATE]))
    result = pipeline()  # the incremental models add the late rows and rebuild the days they touch
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()}[
        "reconciles_with_raw_events"
    ]

    with duckdb.connect(str(warehouse_settings.serving_path), read_only=True) as con:

        def marts(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        check_actives(marts)
        check_retention_and_lifecycle(marts)
        check_usage_cost_and_latency(marts)
        check_top_users_models_and_geography(marts)
        check_user_facts_refusals_and_balance(marts)
        check_revenue(marts)
        check_catalogue_usage(marts)
        check_feedback(marts)
    check_shared_queries(warehouse_settings.serving_path)
    check_api_agrees_with_the_marts(client, settings, warehouse_settings.serving_path)

    incremental = _all_marts(warehouse_settings.warehouse_path)
    _dbt_full_refresh(warehouse_settings)
    assert _all_marts(warehouse_settings.warehouse_path) == incremental


def check_actives(marts):
    daily = {
        row[0]: row[1:]
        for row in marts("SELECT day, dau, wau, mau, new_users FROM marts.mart_active_users_daily")
    }
    assert min(daily) == date(2026, 3, 2) and max(daily) == date(2026, 3, 24) and len(daily) == 23
    assert daily[date(2026, 3, 2)] == (1, 1, 1, 1)  # A (S is staff)
    assert daily[date(2026, 3, 4)] == (1, 2, 2, 1)  # B; A within 7 and 30 days
    assert daily[date(2026, 3, 7)] == (0, 2, 2, 0)
    assert daily[date(2026, 3, 10)] == (2, 3, 3, 0)  # A and C; B on 4-5 Mar is within 7 days
    assert daily[date(2026, 3, 16)] == (1, 3, 3, 0)  # B; A and C on 10-11 Mar
    assert daily[date(2026, 3, 24)] == (1, 1, 3, 0)  # A alone in 18-24 Mar
    stickiness = marts("SELECT stickiness FROM marts.mart_active_users_daily WHERE day = '2026-03-10'")
    assert float(stickiness[0][0]) == pytest.approx(2 / 3, abs=1e-4)

    periods = set(
        marts("SELECT period, period_start, active_users, new_users FROM marts.mart_active_users_periods")
    )
    assert periods == {
        ("week", date(2026, 3, 2), 2, 2),
        ("week", date(2026, 3, 9), 2, 1),
        ("week", date(2026, 3, 16), 1, 0),
        ("week", date(2026, 3, 23), 1, 0),
        ("month", date(2026, 3, 1), 3, 3),
    }


def check_retention_and_lifecycle(marts):
    retention = marts(
        "SELECT cohort_week, week_number, cohort_size, active_users, retention_pct "
        "FROM marts.mart_retention_weekly ORDER BY 1, 2"
    )
    w1, w2 = date(2026, 3, 2), date(2026, 3, 9)
    assert [(r[0], r[1], r[2], r[3], float(r[4])) for r in retention] == [
        (w1, 0, 2, 2, 100.0),
        (w1, 1, 2, 1, 50.0),  # A on 10 Mar
        (w1, 2, 2, 1, 50.0),  # B on 16 Mar
        (w1, 3, 2, 1, 50.0),  # A on 24 Mar
        (w2, 0, 1, 1, 100.0),
        (w2, 1, 1, 0, 0.0),
        (w2, 2, 1, 0, 0.0),
    ]
    lifecycle = set(marts("SELECT week, state, users FROM marts.mart_lifecycle_weekly"))
    assert lifecycle == {
        (w1, "new", 2),
        (w2, "new", 1),
        (w2, "returning", 1),  # A
        (w2, "dormant", 1),  # B
        (date(2026, 3, 16), "resurrecting", 1),  # B
        (date(2026, 3, 16), "dormant", 2),  # A and C
        (date(2026, 3, 23), "resurrecting", 1),  # A
        (date(2026, 3, 23), "dormant", 1),  # B
    }


def check_usage_cost_and_latency(marts):
    totals = marts(
        "SELECT sum(calls), sum(completions), sum(failed_calls), sum(input_tokens), sum(output_tokens), "
        "sum(cost_usd), sum(credits) FROM marts.mart_usage_daily"
    )[0]
    # 8 calls: A 4, B 2 (one failed), C 1, S 1. Tokens in 10+10+5+10+10+20+1, out 20+20+5+20+10+30+1.
    assert totals == (8, 7, 1, 66, 106, Decimal("0.0091"), Decimal("0.9"))
    roles = marts("SELECT role_id, sum(calls) FROM marts.mart_usage_daily GROUP BY 1 ORDER BY 1")
    assert roles == [("(none)", 6), ("r1", 2)]
    latency = marts(
        "SELECT calls, errors, error_rate, latency_p50_ms, latency_p95_ms FROM marts.mart_latency_daily "
        "WHERE day = '2026-03-02'"
    )
    # Successful calls of 100 and 300 ms: nearest rank p50 is 100 (rank 1), p95 300 (rank ceil(1.9) = 2),
    # each reported as its 5% bucket's upper bound (103 and 301 ms).
    assert latency == [(2, 0, 0, 103, 301)]
    assert (latency_percentile([100, 300], 0.5), latency_percentile([100, 300], 0.95)) == (103, 301)
    # 5 Mar: a failed call of 500 ms and a successful one of 200 ms: the failure is an error, not a latency.
    failed_day = marts(
        "SELECT calls, errors, latency_p50_ms, latency_p95_ms FROM marts.mart_latency_daily "
        "WHERE day = '2026-03-05'"
    )
    assert (
        failed_day
        == [(2, 1, latency_percentile([200], 0.5), latency_percentile([200], 0.95))]
        == [(2, 1, 204, 204)]
    )
    chats = marts(
        "SELECT chats_created, messages_sent, failed_calls, error_rate FROM marts.mart_chats_daily "
        "WHERE day = '2026-03-05'"
    )
    assert [(r[0], r[1], r[2], float(r[3])) for r in chats] == [(0, 0, 1, 0.5)]
    projection = marts(
        "SELECT cost_usd_to_date, days_elapsed, days_in_month, projected_cost_usd "
        "FROM marts.mart_cost_projection"
    )
    assert projection[0][:3] == (Decimal("0.0091"), 24, 31)
    assert float(projection[0][3]) == pytest.approx(0.0091 / 24 * 31, abs=1e-8)


def check_top_users_models_and_geography(marts):
    top_users = marts(
        "SELECT user_id, sum(cost_usd) AS cost FROM marts.fct_user_days "
        "GROUP BY 1 ORDER BY cost DESC LIMIT 10"
    )
    assert top_users == [(str(A), Decimal("0.005")), (str(C), Decimal("0.003")), (str(B), Decimal("0.001"))]
    top_models = marts("SELECT model_id, sum(calls) FROM marts.mart_usage_daily GROUP BY 1 ORDER BY 2 DESC")
    assert top_models == [("m1", 7), ("m2", 1)]
    geography = marts(
        "SELECT country_code, sum(new_users), sum(calls), sum(cost_usd) FROM marts.mart_geography_daily "
        "GROUP BY 1 ORDER BY 1"
    )
    assert geography == [
        ("(unknown)", 0, 1, Decimal("0.0001")),  # the staff call
        ("DE", 2, 6, Decimal("0.006")),
        ("FR", 1, 1, Decimal("0.003")),
    ]


def check_user_facts_refusals_and_balance(marts):
    facts = {
        row[0]: row[1:]
        for row in marts(
            "SELECT user_id, chats, messages, completions, input_tokens, output_tokens, cost_usd, "
            "active_days, favourite_model, favourite_role FROM marts.mart_user_facts"
        )
    }
    assert facts[str(A)] == (1, 0, 4, 35, 65, Decimal("0.005"), 4, "m1", "r1")
    assert facts[str(C)] == (0, 1, 1, 20, 30, Decimal("0.003"), 3, "m1", None)
    assert facts[str(S)][2] == 0  # staff activity is not a user's
    refusals = marts("SELECT day, plan, error_code, metric, refusals FROM marts.mart_quota_refusals_daily")
    assert refusals == [(date(2026, 3, 10), "free", "quota_exceeded", "x", 1)]
    balance = marts("SELECT day, movement, movements, credits FROM marts.mart_balance_daily")
    assert sorted(balance) == [
        (date(2026, 3, 2), "topped_up", 1, Decimal("10")),
        (date(2026, 3, 5), "topped_up", 2, Decimal("6")),
    ]


def check_revenue(marts):
    revenue = marts(
        "SELECT day, plan, top_ups, paying_users, revenue_usd, top_ups_other_currency, provider_cost_usd, "
        "margin_usd FROM marts.mart_revenue_daily WHERE day IN ('2026-03-02', '2026-03-05') "
        "ORDER BY day, plan"
    )
    assert revenue == [
        # A paid 0.10 on pro; A's two calls cost 0.002: margin 0.098.
        (date(2026, 3, 2), "pro", 1, 1, Decimal("0.1"), 0, Decimal("0.002"), Decimal("0.098")),
        # B's failed call: no plan on its event, no cost.
        (date(2026, 3, 5), "(none)", 0, 0, Decimal("0"), 0, Decimal("0"), Decimal("0")),
        # B paid 0.05 USD (and 3 EUR, not counted) on free; B's good call that day was on pro (0.001).
        (date(2026, 3, 5), "free", 2, 1, Decimal("0.05"), 1, Decimal("0"), Decimal("0.05")),
        (date(2026, 3, 5), "pro", 0, 0, Decimal("0"), 0, Decimal("0.001"), Decimal("-0.001")),
    ]
    # A recount from the raw events themselves: all of the money paid in USD, all of the calls' cost.
    paid = sum(
        Decimal(e["properties"]["amount"])
        for e in EVENTS
        if e["type"] == "balance.topped_up" and e["properties"]["currency"] == "USD"
    )
    cost = sum(e["cost_usd"] or 0 for e in EVENTS)
    totals = marts(
        "SELECT sum(revenue_usd), sum(provider_cost_usd), sum(margin_usd) FROM marts.mart_revenue_daily"
    )
    assert totals == [(paid, cost, paid - cost)] == [(Decimal("0.15"), Decimal("0.0091"), Decimal("0.1409"))]


def check_catalogue_usage(marts):
    """A model's and a role's usage, all time: its LLM calls only, as the admin API's `…/usage` counts
    them. C's message names m1 with 8 tokens in and C's refusal names m2 and r1: neither is a call."""
    usage = marts(
        "SELECT kind, id, completions, failed_calls, input_tokens, output_tokens, cost_usd, users "
        "FROM marts.mart_catalogue_usage ORDER BY kind, id"
    )
    assert usage == [
        # m1: A 3 calls (10+10+10 in, 20+20+20 out), B a failed one and one of 10/10, C 20/30, S 1/1.
        ("model", "m1", 6, 1, 61, 101, Decimal("0.0071"), 4),
        ("model", "m2", 1, 0, 5, 5, Decimal("0.002"), 1),  # A on 10 Mar; C was only refused
        ("role", "r1", 2, 0, 20, 40, Decimal("0.002"), 1),  # A's two calls on 2 Mar; C was only refused
    ]
    # The same tokens as the calls' in the daily mart, model by model.
    by_model = marts(
        "SELECT model_id, sum(input_tokens), sum(output_tokens) FROM marts.mart_usage_daily "
        "GROUP BY 1 ORDER BY 1"
    )
    assert by_model == [(row[1], row[4], row[5]) for row in usage if row[0] == "model"]


def check_feedback(marts):
    """Each scored completion once, by its latest score (A's change of mind came in the second load)."""
    rows = marts(
        "SELECT day, model_id, role_id, role_version, provider, plan, scores, ratings_up, ratings_down, "
        "values_count, values_sum, value_avg, positive, share_positive, commented "
        "FROM marts.mart_feedback_daily ORDER BY day, role_id"
    )
    assert rows == [
        (date(2026, 3, 2), "m1", "r1", 2, "p1", "pro", 1, 0, 0, 1, 5, Decimal(5), 1, Decimal(1), 0),  # A's 5
        (
            date(2026, 3, 3),
            "m1",
            "r1",
            2,
            "p1",
            "pro",
            1,
            0,
            1,
            0,
            0,
            None,
            0,
            Decimal(0),
            0,
        ),  # A: up, then down
        (date(2026, 3, 5), "m1", "(none)", 0, "p1", "pro", 1, 1, 0, 0, 0, None, 1, Decimal(1), 0),  # B up
        (
            date(2026, 3, 10),
            "m1",
            "(none)",
            0,
            "p1",
            "pro",
            1,
            0,
            0,
            1,
            4,
            Decimal(4),
            1,
            Decimal(1),
            1,
        ),  # C's 4
    ]


def check_shared_queries(serving):
    """The query layer of the panel and the API on the same figures."""
    from warehouse import queries

    all_time = queries.top("users", metric="cost", path=serving)
    march = queries.top("users", start=date(2026, 3, 1), end=date(2026, 3, 31), metric="cost", path=serving)
    assert list(all_time["user_id"]) == list(march["user_id"]) == [str(A), str(C), str(B)]
    assert list(all_time["email"]) == ["a@oracle.example.com", "c@oracle.example.com", "b@oracle.example.com"]
    assert list(march["calls"]) == list(all_time["calls"]) == [4, 1, 2]
    # The range's percentiles by the same definition as the daily mart's (the 7 successful m1 calls).
    whole = queries.latency(path=serving)
    m1 = whole[whole.model_id == "m1"].iloc[0]
    assert (m1.calls, m1.errors, m1.error_rate) == (7, 1, round(1 / 7, 4))
    successful_m1 = [100, 300, 200, 200, 200, 200, 200]  # 2 Mar A x2, 5 Mar B, 9 Mar C, 3 Mar S, 24 Mar A
    assert (m1.latency_p50_ms, m1.latency_p95_ms) == (
        latency_percentile(successful_m1, 0.5),
        latency_percentile(successful_m1, 0.95),
    )
    # Top N has no zero rows: on 16 Mar B only signed in, so nobody made a call or spent anything.
    for metric in ("calls", "cost", "tokens", "credits"):
        assert queries.top("users", start=date(2026, 3, 16), end=date(2026, 3, 16), metric=metric,
                           path=serving).empty  # fmt: skip
    assert queries.top("models", start=date(2026, 3, 16), end=date(2026, 3, 16), path=serving).empty
    # Feedback: ratios of the sums, never means of the daily ratios.
    by_model = queries.feedback(by="model", path=serving)
    assert by_model[["model_id", "scores", "positive", "share_positive"]].values.tolist() == [
        ["m1", 4, 3, 0.75]
    ]
    assert by_model["value_avg"].tolist() == [4.5]
    by_role = queries.feedback(by="role", path=serving)
    assert by_role[["role_id", "scores", "share_positive"]].values.tolist() == [
        ["(none)", 2, 1.0],
        ["r1", 2, 0.5],
    ]
    early = queries.feedback(end=date(2026, 3, 2), by="role_version", path=serving)
    assert early[["role_id", "role_version", "scores", "ratings_up"]].values.tolist() == [["r1", 2, 1, 0]]


def check_api_agrees_with_the_marts(client, settings, serving):
    """The analytics API on the oracle's warehouse: one latency definition, clipped periods, zero days."""
    analyst = staff_headers(client, settings, "analyst")

    def api(url: str) -> list[dict]:
        response = client.get(f"/api/v1/analytics/{url}", headers=analyst)
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    # Each day's p50 / p95 from the API is the daily mart's.
    with duckdb.connect(str(serving), read_only=True) as con:
        daily = con.execute(
            "SELECT day, provider, model_id, latency_p50_ms, latency_p95_ms FROM marts.mart_latency_daily"
        ).fetchall()
    assert len(daily) == 6  # m1 on 2, 3, 5, 9 and 24 Mar, m2 on 10 Mar
    for day, provider, model, p50, p95 in daily:
        rows = api(f"latency?start={day}&end={day}")
        [row] = [r for r in rows if (r["provider"], r["model_id"]) == (provider, model)]
        assert (row["latency_p50_ms"], row["latency_p95_ms"]) == (p50, p95), day

    # 4-10 Mar cuts W1 (2-8 Mar) and W2 (9-15 Mar): each week counts only its days inside the range.
    cut = "start=2026-03-04&end=2026-03-10"
    days = api(f"usage?{cut}")
    assert [r["period_start"] for r in days] == [f"2026-03-{d:02d}" for d in range(4, 11)]
    quiet = next(r for r in days if r["period_start"] == "2026-03-06")  # nobody did anything that day
    assert {k: v for k, v in quiet.items() if k != "period_start"} == {
        "calls": 0, "completions": 0, "failed_calls": 0, "error_rate": None, "input_tokens": 0,
        "output_tokens": 0, "cost_usd": 0, "credits": 0,
    }  # fmt: skip
    weeks = api(f"usage?{cut}&grain=week")
    # W1 inside the range: B's failed and good call on 5 Mar; W2: C on 9 Mar, A on 10 Mar.
    assert [(r["period_start"], r["calls"], r["failed_calls"]) for r in weeks] == [
        ("2026-03-02", 2, 1),
        ("2026-03-09", 2, 0),
    ]
    actives = api(f"active-users?{cut}&grain=week")
    # W1 inside the range: B (A was active on 2-3 Mar only); W2: A and C, C new.
    assert [(r["period_start"], r["active_users"], r["new_users"]) for r in actives] == [
        ("2026-03-02", 1, 1),
        ("2026-03-09", 2, 1),
    ]
    [month] = api(f"usage?{cut}&grain=month")
    [month_actives] = api(f"active-users?{cut}&grain=month")
    assert (month["period_start"], month["calls"]) == ("2026-03-01", sum(r["calls"] for r in days))
    assert (month_actives["period_start"], month_actives["active_users"], month_actives["new_users"]) == (
        "2026-03-01",
        3,
        2,
    )
    assert sum(r["calls"] for r in weeks) == month["calls"] == 4
    # Periods the range does not cut are the whole calendar periods of mart_active_users_periods.
    whole = [(r["period_start"], r["active_users"], r["new_users"]) for r in api("active-users?grain=week")]
    assert whole == [("2026-03-02", 2, 2), ("2026-03-09", 2, 1), ("2026-03-16", 1, 0), ("2026-03-23", 1, 0)]
    assert api("active-users?start=2026-03-09&end=2026-03-22&grain=week") == [
        {"period_start": "2026-03-09", "active_users": 2, "new_users": 1},
        {"period_start": "2026-03-16", "active_users": 1, "new_users": 0},
    ]
    assert api("top/users?start=2026-03-16&end=2026-03-16&metric=calls") == []
