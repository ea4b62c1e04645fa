"""The two implementations of the bookkeeping seam (api/gateway/books.py) write the same rows.

One scenario of calls is played twice on PostgreSQL, with `fast_lane` on (`FastBooks`: plain SQL on
asyncpg) and off (`PortableBooks`: the ORM): paid and free calls, a failed call refunded, an API key, the
day's request quota, a token quota, a balance too low, the balance_low notification, a streamed call, an
assistant role. The ledger, the quota counters, the events and the notifications must come out the
same, row for row (ids, timestamps and references aside). The events are compared on every column of
`usage_events` the model declares, so a column added later is compared too: one that the ORM writes and
the fast lane's SQL does not fails here instead of being lost on PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from api.accounts.models import Account, Plan
from api.catalogue.models import LlmModel
from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from api.main import create_app
from api.notifications.models import NotificationRule
from tests.conftest import postgres_database
from tests.support.api import completion_body, db_execute, grant_credits, sign_up

PAID = "mock-large"

LEDGER = """
SELECT a.email, l.kind, l.amount, l.balance_after, l.details - 'settles' AS details
FROM credit_ledger l JOIN accounts a ON a.id = l.account_id ORDER BY a.email, l.id
"""
# Each paid call's reservation, ended once: settled or refunded.
CLAIMS = """
SELECT a.email, c.outcome, count(*) FROM reservation_settlements c JOIN accounts a ON a.id = c.account_id
GROUP BY a.email, c.outcome ORDER BY a.email, c.outcome
"""
QUOTAS = """
SELECT a.email, q.metric, q.used FROM quota_usage q JOIN accounts a ON a.id = q.account_id
ORDER BY a.email, q.metric
"""
# Every column of usage_events, each as an expression that is NULL exactly when the column is: the ones
# that differ from run to run (random ids, times) as whether they were written; the id gives the order.
_WRITTEN = "CASE WHEN e.{0} IS NULL THEN NULL ELSE 'written' END"
_AS = {
    "event_id": _WRITTEN,
    "occurred_at": _WRITTEN,
    "chat_id": _WRITTEN,
    "latency_ms": _WRITTEN,
    "user_id": "a.email",
    # The call's reference and its request's id differ from run to run; whether each was written is kept.
    "properties": "e.properties - 'reference' - 'request_id' || jsonb_strip_nulls(jsonb_build_object("
    "'request_id', CASE WHEN e.properties ? 'request_id' THEN 'written' END))",
}
EVENT_COLUMNS = [column.name for column in UsageEvent.__table__.columns if column.name != "id"]
EVENTS = f"""
SELECT {", ".join(_AS.get(name, "e.{0}").format(name) for name in EVENT_COLUMNS)}
FROM usage_events e LEFT JOIN accounts a ON a.id = e.user_id
WHERE e.type NOT LIKE 'user.%' AND e.type NOT LIKE 'auth.%' AND e.type NOT LIKE 'security.%'
ORDER BY e.id
"""  # the columns come from the model
# The events the fast lane's gateway_settle writes, and the columns the scenario leaves empty in them on
# both sides, with the reason. Any other column must be written in one of them at least, so that the
# comparison below sees it.
SETTLED = ("llm.call_succeeded", "balance.charged")
NOT_EXERCISED = {
    "chat_id": "calls in a chat are settled by the ORM on both sides",
    "error_code": "a successful call has none, unless its client left mid-stream",
}
NOTIFICATIONS = """
SELECT a.email, n.rule, n.channel, n.subject FROM notifications n JOIN accounts a ON a.id = n.account_id
WHERE n.rule IS DISTINCT FROM 'welcome' ORDER BY a.email, n.id
"""


def _play(settings) -> dict[str, list]:
    """The scenario; what it left in the books."""
    db_execute(
        settings,
        update(NotificationRule)
        .where(NotificationRule.code == "balance_low")
        .values(enabled=True, threshold=Decimal("99.99")),
    )
    with TestClient(create_app(settings)) as client:
        assert (client.app.state.gateway.callers is not None) == settings.fast_lane
        ada = sign_up(client, "ada@example.com")
        bob = sign_up(client, "bob@example.com")
        cid = sign_up(client, "cid@example.com")
        db_execute(settings, update(Account).values(plan_code="pro"))
        grant_credits(settings, "ada@example.com", Decimal(100))
        grant_credits(settings, "bob@example.com", Decimal(100))

        def stream(headers, **extra) -> tuple[int, str | None, str | None]:
            body = {**completion_body(PAID), "stream": True, "stream_options": {"include_usage": True}}
            response = client.post("/v1/chat/completions", headers={**headers, "X-Client": "web"}, json=body)
            return response.status_code, None if response.text.endswith("data: [DONE]\n\n") else "cut", None

        def call(headers, model=PAID, **extra) -> tuple[int, str | None, str | None]:
            response = client.post(
                "/v1/chat/completions",
                headers={**headers, "X-Country": "DE", "X-Client": "telegram"},
                json={**completion_body(model), **extra},
            )
            error = response.json().get("error") or {}
            return response.status_code, error.get("code"), error.get("metric")

        key = client.post("/api/v1/me/api-keys", headers=ada, json={"name": "bot"}).json()["key"]
        outcomes = [
            call(ada),  # paid: reserved, settled, the balance below balance_low's threshold
            call(ada, "mock-small"),  # free
            call(ada, metadata={"mock": "fail"}),  # the provider fails: refunded in full
            call({"Authorization": f"Bearer {key}"}),  # an API key
            call(cid),  # no credits: 402
            call(bob, max_tokens=5),
        ]
        catalogue = client.app.state.gateway.catalogue  # the plans as of its last snapshot: re-read them
        db_execute(settings, update(Plan).where(Plan.code == "pro").values(tokens_per_day=1))
        catalogue.invalidate()
        outcomes.append(call(bob))  # bob's tokens for the day are used up: 429
        pro = update(Plan).where(Plan.code == "pro")
        db_execute(settings, pro.values(tokens_per_day=None, daily_requests=3))
        catalogue.invalidate()
        outcomes.append(call(ada))  # ada made 3 calls today (the failed one gave its unit back): 429
        # A vendor billing more than the bound (the mock's "overbill"): the reservation falls short, and the
        # rest is taken from the balance, never below 0.
        db_execute(
            settings,
            pro.values(daily_requests=None),
            update(LlmModel).where(LlmModel.id == PAID).values(max_output_tokens=1, default_params={}),
        )
        catalogue.invalidate()
        overbill = {"metadata": {"mock": "overbill"}}
        outcomes.append(call(bob, **overbill))  # bob's balance covers the rest
        grant_credits(settings, "cid@example.com", Decimal("0.011"))  # the reservation: 0.01075
        outcomes.append(call(cid, **overbill))  # cid's covers the reservation, not the rest: it ends at 0
        outcomes.append(stream(bob))  # streamed: settled through the same books
        outcomes.append(call(bob, "mock-small", metadata={"role": "fix-grammar"}))  # an assistant role
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        books = {name: [tuple(row) for row in conn.execute(text(query))] for name, query in (
            ("ledger", LEDGER), ("quotas", QUOTAS), ("claims", CLAIMS), ("events", EVENTS),
            ("notifications", NOTIFICATIONS),
        )}  # fmt: skip
    engine.dispose()
    books["events"] = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in books["events"]]
    return {"outcomes": outcomes, **books}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_fast_lane_writes_what_the_portable_path_writes(settings, pg_template, clock):
    fast = _play(settings.model_copy(update={"fast_lane": True, "mock_faults": True}))
    with postgres_database(pg_template) as other_url:
        portable = _play(
            settings.model_copy(update={"fast_lane": False, "mock_faults": True, "database_url": other_url})
        )
    assert fast["outcomes"] == [
        (200, None, None),
        (200, None, None),
        (502, "provider_error", None),
        (200, None, None),
        (402, "insufficient_balance", None),
        (200, None, None),
        (429, "quota_exceeded", "tokens_per_day"),
        (429, "quota_exceeded", "requests_per_day"),
        (200, None, None),
        (200, None, None),
        (200, None, None),
        (200, None, None),
    ]
    _assert_every_event_column_written_by_both(fast["events"], portable["events"])
    for part in ("outcomes", "ledger", "quotas", "claims", "events", "notifications"):
        assert fast[part] == portable[part], part
    assert ("ada@example.com", "refunded", 1) in fast["claims"]
    assert ("bob@example.com", "settled", 3) in fast["claims"]
    assert any(n[1] == "balance_low" for n in fast["notifications"])
    kinds = [(email, kind, amount < 0) for email, kind, amount, *_ in fast["ledger"]]
    assert kinds[-2:] == [("cid@example.com", "charge", True), ("cid@example.com", "charge", True)]
    assert fast["ledger"][-1][3] == 0  # what cid's balance could not cover is not owed


def _assert_every_event_column_written_by_both(fast: list[dict], portable: list[dict]) -> None:
    assert [e["type"] for e in fast] == [e["type"] for e in portable]
    settled = [e for e in portable if e["type"] in SETTLED]
    exercised = {name for name in EVENT_COLUMNS if any(e[name] is not None for e in settled)}
    assert set(EVENT_COLUMNS) - exercised == set(NOT_EXERCISED), (
        "extend the scenario so that the ORM writes these columns in a settled call's events, "
        "or say in NOT_EXERCISED why it cannot"
    )
    for name in EVENT_COLUMNS:
        lost = [
            p["type"] for f, p in zip(fast, portable, strict=True) if p[name] is not None and f[name] is None
        ]
        assert not lost, f"usage_events.{name}: written by the ORM, not by the fast lane, in {lost}"
