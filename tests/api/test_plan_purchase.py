"""`POST /api/v1/me/plan`: an end user buys a month of a plan with credits, or goes back to the free plan;
past the month the account is back on the free plan wherever it calls from (docs/decisions/0050).

On PostgreSQL, where the gateway's fast lane (api/gateway/fastlane.py) reads the caller of `/v1/*` by
its own SQL: the expiry must be seen there as on the ORM's path.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select, update

from api.accounts.models import Account, Plan
from api.billing.models import LedgerEntry
from api.billing.service import CreditRate
from api.core.types import utcnow
from tests.support.api import (
    bearer,
    completion_body,
    db_execute,
    db_scalar,
    events_of,
    grant_credits,
    login,
    sign_up,
    staff_headers,
)

ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
PLAN, ME = "/api/v1/me/plan", "/api/v1/me"
PRO_CREDITS = Decimal(1000)  # pro's seeded 10.00 at the seeded 0.01 a credit
MONTH = timedelta(days=30)


def _code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def _ledger(settings, email: str) -> int:
    """How many plan purchases the account's ledger holds."""
    query = select(func.count()).select_from(LedgerEntry).join(Account, Account.id == LedgerEntry.account_id)
    return db_scalar(settings, query.where(Account.email == email, LedgerEntry.kind == "plan_purchase"))


def _account(settings, email: str) -> tuple[str, object, Decimal]:
    return (
        db_scalar(settings, select(Account.plan_code).where(Account.email == email)),
        db_scalar(settings, select(Account.plan_expires_at).where(Account.email == email)),
        db_scalar(settings, select(Account.balance).where(Account.email == email)),
    )


def test_a_plan_price_becomes_credits_rounded_up_never_down():
    rate = CreditRate("USD", Decimal("0.03"), Decimal("0.01"))
    assert rate.credits_to_charge(Decimal("10.00")) == Decimal("333.333334")  # 333.3333333…
    assert rate.credits_for_money(Decimal("10.00")) == Decimal("333.333333")  # a top-up: down
    assert rate.credits_to_charge(Decimal("0.03")) == Decimal("1.000000")  # exact stays exact


@pytest.mark.both_databases  # the lock and the conditional UPDATE are each database's own
def test_buying_pro_charges_a_month_and_buying_again_extends_it(client, settings, clock):
    ada = sign_up(client, "ada@example.com")
    grant_credits(settings, "ada@example.com", Decimal(2500))
    assert "mock-large" not in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]

    bought = client.post(PLAN, headers=ada, json={"plan": "pro"})
    assert bought.status_code == 200, bought.text
    body = bought.json()
    assert body["plan"] == "pro" and Decimal(body["charged"]) == PRO_CREDITS
    assert Decimal(body["balance"]) == Decimal(1500)
    ends = clock.now() + MONTH
    assert body["plan_expires_at"].startswith(ends.strftime("%Y-%m-%dT%H:%M:%S"))
    me = client.get(ME, headers=ada).json()
    assert me["plan_code"] == "pro" and me["plan_expires_at"] == body["plan_expires_at"]
    # the gateway serves the plan at once (on PostgreSQL through its fast lane): the paid tier is offered
    assert "mock-large" in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]
    entry = client.get("/api/v1/me/balance", headers=ada).json()["entries"][0]
    assert (entry["kind"], Decimal(entry["amount"]), entry["description"]) == (
        "plan_purchase", -PRO_CREDITS, "A month of the pro plan"
    )  # fmt: skip
    [changed] = events_of(settings, "plan.changed")
    assert (changed.plan, changed.credits, changed.status) == ("pro", PRO_CREDITS, "ok")
    assert changed.properties["from"] == "free" and changed.properties["to"] == "pro"
    [charged] = [e for e in events_of(settings, "balance.charged") if e.properties.get("reason")]
    assert (
        charged.credits == PRO_CREDITS and charged.properties["reference"] == changed.properties["reference"]
    )

    # (the test's clock starts days before the real one, whose JWT checks refuse a token from the future)
    clock.advance(days=2)
    ada = bearer(login(client, "ada@example.com"))  # the first access token has expired meanwhile
    again = client.post(PLAN, headers=ada, json={"plan": "pro"})
    assert again.status_code == 200, again.text
    assert again.json()["plan_expires_at"].startswith((ends + MONTH).strftime("%Y-%m-%dT%H:%M:%S"))
    assert Decimal(again.json()["balance"]) == Decimal(500)

    short = client.post(PLAN, headers=ada, json={"plan": "pro"})
    assert short.status_code == 402 and _code(short) == "insufficient_balance"
    assert short.json()["error"]["params"] == {"plan": "pro", "price": "1000.000000", "balance": "500.000000"}
    assert _account(settings, "ada@example.com")[1:] == (ends + MONTH, Decimal(500))
    assert _ledger(settings, "ada@example.com") == 2 and len(events_of(settings, "plan.changed")) == 2

    # Back to free: at once, no end, nothing refunded.
    free = client.post(PLAN, headers=ada, json={"plan": "free"})
    assert free.status_code == 200, free.text
    assert (free.json()["plan"], free.json()["plan_expires_at"], Decimal(free.json()["charged"])) == (
        "free", None, Decimal(0)
    )  # fmt: skip
    assert _account(settings, "ada@example.com") == ("free", None, Decimal(500))
    assert events_of(settings, "plan.changed")[-1].properties["to"] == "free"
    again_free = client.post(PLAN, headers=ada, json={"plan": "free"})
    assert again_free.status_code == 409 and _code(again_free) == "no_change"


@ON_POSTGRESQL
def test_plans_not_for_sale_and_hostile_codes_are_refused_and_change_nothing(client, settings):
    ada = sign_up(client, "ada@example.com")
    grant_credits(settings, "ada@example.com", Decimal(5000))
    db_execute(
        settings,
        Plan.__table__.insert().values(code="vip", name="VIP", public=False, price_monthly=Decimal(1)),
        Plan.__table__.insert().values(code="team", name="Team", public=True, price_monthly=None),
    )
    refusals = [
        ({"plan": "gold"}, 404, "plan_not_found"),
        ({"plan": "vip"}, 404, "plan_not_found"),  # staff keep it for some accounts: not offered
        ({"plan": "team"}, 409, "plan_not_for_sale"),  # public, unpriced, not the default plan
        ({"plan": "free"}, 409, "no_change"),  # on it already, for good
        ({"plan": "p" * 5000}, 422, "validation_error"),
        ({"plan": "pro\x00"}, 422, "validation_error"),
        ({"plan": "PRO"}, 422, "validation_error"),
        ({"plan": ""}, 422, "validation_error"),
        ({"plan": ["pro"]}, 422, "validation_error"),
        ({"plan": "pro", "price": 0}, 422, "validation_error"),
        ({}, 422, "validation_error"),
    ]
    for body, status, code in refusals:
        refused = client.post(PLAN, headers=ada, json=body)
        assert (refused.status_code, _code(refused)) == (status, code), body
    nul = client.post(
        PLAN, headers={**ada, "Content-Type": "application/json"}, content=b'{"plan": "\\u0000"}'
    )
    assert nul.status_code == 422
    assert client.post(PLAN, json={"plan": "pro"}).status_code == 401
    assert _account(settings, "ada@example.com") == ("free", None, Decimal(5000))
    assert _ledger(settings, "ada@example.com") == 0 and events_of(settings, "plan.changed") == []


def test_one_account_cannot_buy_with_anothers_credits_nor_replay_its_answer(client, settings):
    ada = sign_up(client, "ada@example.com")
    bob = sign_up(client, "bob@example.com")
    grant_credits(settings, "ada@example.com", Decimal(1000))
    key = {"Idempotency-Key": "buy-pro-1"}
    assert client.post(PLAN, headers={**ada, **key}, json={"plan": "pro"}).status_code == 200
    # bob's key is his own: the same one replays nothing of ada's, and he has no credits
    refused = client.post(PLAN, headers={**bob, **key}, json={"plan": "pro"})
    assert refused.status_code == 402 and _code(refused) == "insufficient_balance"
    assert _account(settings, "bob@example.com") == ("free", None, Decimal(0))
    assert _account(settings, "ada@example.com")[0::2] == ("pro", Decimal(0))
    # ada's retry with her key answers the first result again, charging nothing more
    replay = client.post(PLAN, headers={**ada, **key}, json={"plan": "pro"})
    assert replay.status_code == 200 and Decimal(replay.json()["balance"]) == 0
    assert _ledger(settings, "ada@example.com") == 1


def _burst(url: str, headers: list[dict[str, str]]) -> list[httpx.Response]:
    """One purchase of pro per header set, all sent at once (one thread and connection each)."""
    clients = [httpx.Client(base_url=url, headers=h, timeout=60) for h in headers]
    for http in clients:  # connected before the start, so that the requests reach the API together
        assert http.get("/health").status_code == 200
    start, answers = threading.Barrier(len(clients)), [None] * len(clients)

    def send(n: int) -> None:
        start.wait()
        answers[n] = clients[n].post(PLAN, json={"plan": "pro"})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for http in clients:
        http.close()
    return answers


@ON_POSTGRESQL
def test_a_burst_of_purchases_charges_once(live_server, settings):
    with httpx.Client(base_url=live_server.url) as http:
        ada = sign_up(http, "ada@example.com", settings)
        bob = sign_up(http, "bob@example.com", settings)
    grant_credits(settings, "ada@example.com", PRO_CREDITS)  # exactly one month
    answers = _burst(live_server.url, [ada] * 5)
    assert sorted((a.status_code, a.status_code == 200 or _code(a)) for a in answers) == [
        (200, True), *[(402, "insufficient_balance")] * 4
    ]  # fmt: skip
    assert _account(settings, "ada@example.com")[0::2] == ("pro", Decimal(0))
    assert _ledger(settings, "ada@example.com") == 1

    # A double click with one Idempotency-Key buys once even with credits for more.
    grant_credits(settings, "bob@example.com", 3 * PRO_CREDITS)
    answers = _burst(live_server.url, [{**bob, "Idempotency-Key": "click"}] * 5)
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
    assert all(_code(a) == "idempotency_in_progress" for a in answers if a.status_code == 409)
    assert _account(settings, "bob@example.com")[0::2] == ("pro", 2 * PRO_CREDITS)
    assert _ledger(settings, "bob@example.com") == 1
    assert len(events_of(settings, "plan.changed")) == 2


@ON_POSTGRESQL
def test_an_ended_plan_falls_back_to_free_on_the_fast_lane_and_everywhere(client, settings, clock):
    assert client.app.state.gateway.callers is not None  # PostgreSQL: /v1/* reads the caller by its SQL
    ada = sign_up(client, "ada@example.com")
    key = client.post("/api/v1/me/api-keys", headers=ada, json={"name": "bot"}).json()["key"]
    grant_credits(settings, "ada@example.com", Decimal(1100))
    assert client.post(PLAN, headers=ada, json={"plan": "pro"}).status_code == 200
    paid = client.post("/v1/chat/completions", headers=ada, json=completion_body("mock-large"))
    assert paid.status_code == 200, paid.text

    # The month is over (the test's clock cannot move a month: JWT checks refuse a token from the future).
    db_execute(
        settings,
        update(Account)
        .where(Account.email == "ada@example.com")
        .values(plan_expires_at=clock.now() - timedelta(seconds=1)),
    )
    bot = {"Authorization": f"Bearer {key}"}
    refused = client.post("/v1/chat/completions", headers=bot, json=completion_body("mock-large"))
    assert refused.status_code == 403 and _code(refused) == "model_not_in_plan", refused.text
    assert _account(settings, "ada@example.com")[:2] == ("free", None)
    [lapsed] = [e for e in events_of(settings, "plan.changed") if e.properties["reason"] == "expired"]
    assert (lapsed.plan, lapsed.properties["from"], lapsed.properties["to"]) == ("free", "pro", "free")

    # Every other path sees the free plan, and nothing is written again.
    me = client.get(ME, headers=ada).json()
    assert (me["plan_code"], me["plan_expires_at"]) == ("free", None)
    assert client.get("/api/v1/me/usage", headers=ada).json()["requests_today"]["limit"] == 3
    assert "mock-large" not in [m["id"] for m in client.get("/v1/models", headers=bot).json()["data"]]
    assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    assert len(events_of(settings, "plan.changed")) == 2


@pytest.mark.both_databases  # the ORM's UPDATE of a time: SQLite keeps times as text
def test_an_end_set_in_the_past_is_seen_by_a_session_on_the_orm_path(client, settings):
    ada = sign_up(client, "ada@example.com")
    db_execute(
        settings,
        update(Account)
        .where(Account.email == "ada@example.com")
        .values(plan_code="pro", plan_expires_at=utcnow() - timedelta(minutes=1)),
    )
    roles = client.get("/api/v1/me/roles", headers=ada)  # a CurrentAccount route, the ORM's session
    assert roles.status_code == 200
    assert all("mock-large" not in role["models"] for role in roles.json())
    assert _account(settings, "ada@example.com")[:2] == ("free", None)
    assert [e.properties["reason"] for e in events_of(settings, "plan.changed")] == ["expired"]


@ON_POSTGRESQL
def test_a_plan_staff_assign_does_not_end(client, settings):
    ada = sign_up(client, "ada@example.com")
    grant_credits(settings, "ada@example.com", PRO_CREDITS)
    assert client.post(PLAN, headers=ada, json={"plan": "pro"}).status_code == 200
    account_id = client.get(ME, headers=ada).json()["id"]
    admin = staff_headers(client, settings, "admin")
    kept = client.post(
        f"/api/v1/admin/users/{account_id}/plan", headers=admin, json={"plan": "pro", "reason": "a gift"}
    )
    assert kept.status_code == 200, kept.text
    assert (kept.json()["plan_code"], kept.json()["plan_expires_at"]) == ("pro", None)
    again = client.post(
        f"/api/v1/admin/users/{account_id}/plan", headers=admin, json={"plan": "pro", "reason": "again"}
    )
    assert again.status_code == 409 and _code(again) == "no_change"
    assert _account(settings, "ada@example.com")[:2] == ("pro", None)
    # an account on a plan for good has nothing to buy of it
    assert _code(client.post(PLAN, headers=ada, json={"plan": "pro"})) == "no_change"


def test_a_blocked_account_cannot_buy(client, settings):
    ada = sign_up(client, "ada@example.com")
    grant_credits(settings, "ada@example.com", PRO_CREDITS)
    db_execute(settings, update(Account).where(Account.email == "ada@example.com").values(is_blocked=True))
    refused = client.post(PLAN, headers=ada, json={"plan": "pro"})
    assert refused.status_code == 403 and _code(refused) == "account_blocked"
    assert _account(settings, "ada@example.com") == ("free", None, PRO_CREDITS)


def test_the_seeded_pro_plan_is_for_sale(client):
    pro = next(p for p in client.get("/api/v1/plans").json() if p["code"] == "pro")
    assert (pro["price_monthly"], pro["currency"]) == ("10.00", "USD")
