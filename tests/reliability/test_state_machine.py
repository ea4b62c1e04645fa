"""A state machine over accounts (issue #8): sign-up, sessions, completions, credits, staff actions.

Hypothesis draws sequences of register, login, refresh, logout, completions (free and paid models, failing
calls, `Idempotency-Key`s reused), test top-ups, admin blocks, unblocks, plan changes and balance
adjustments. A model keeps what each should have done: the balance, the day's requests against the plan,
which tokens still work, who is blocked, what each key first answered. After every step the API and the
database must agree with it, and the ledger with the balance.

One database per test function; every run signs up fresh emails (and calls from its own client IP), and
the model holds only what the run made, so runs never see each other's accounts.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from api.accounts.models import Account
from api.auth.models import AuthSession
from api.billing.models import LedgerEntry, ReservationSettlement
from api.core.db import make_sync_engine
from api.core.idempotency import IdempotencyRecord
from api.core.types import utcnow
from api.events.models import UsageEvent
from api.main import create_app
from api.providers.base import ChatMessage
from api.providers.mock import answer
from api.quotas.models import QuotaUsage
from api.quotas.windows import DAILY_REQUESTS, DAILY_TOKENS
from tests.reliability.profile import PROFILE, report
from tests.support.api import PASSWORD, bearer, create_staff_account, enrol_two_factor, link_token

USERS = "/api/v1/admin/users"
MAX_USERS = 3  # per run: enough for one account's actions to be seen not to touch another's


@dataclass(frozen=True)
class PlanTerms:
    daily_requests: int
    tiers: frozenset[str]


# What the migrations seed (0001, 0003, 0005): the plans, the two mock models and their prices, the rate.
PLANS = {"free": PlanTerms(3, frozenset({"free"})), "pro": PlanTerms(1000, frozenset({"free", "paid"}))}
TIERS = {"mock-small": "free", "mock-large": "paid"}
MAX_OUTPUT = {"mock-small": 1024, "mock-large": 4096}
CONTEXT = {"mock-small": 8192, "mock-large": 32768}
PAID_PRICE = (Decimal("2.50"), Decimal("10.00"))  # mock-large, USD per million tokens in / out
USD_PER_CREDIT = Decimal("0.01")
PRICE_PER_CREDIT = Decimal("0.01")
STEP = Decimal("0.000001")
PROMPTS = ("Hello, how are you?", "Summarise Hamlet in one line.", "Translate 'good morning' to French.")
AMOUNTS = ("0.01", "0.05", "1.00", "12.34")
ADJUSTMENTS = ("5", "0.5", "-3", "-1000")
KEYS = st.one_of(st.none(), st.sampled_from(("k1", "k2", "k3")))  # one pool per account, both endpoints
PICK = st.integers(0, 99)  # which token: below 70 the newest live one, else any ever issued (revoked too)
WHO = st.integers(0, MAX_USERS - 1)
REFUSED_TOKEN = (401, "not_authenticated")
BLOCKED = (403, "account_blocked")


def credits_for_usd(cost: Decimal) -> Decimal:
    return (cost / USD_PER_CREDIT).quantize(STEP, rounding=ROUND_CEILING)


def paid_credits(input_tokens: int, output_tokens: int) -> Decimal:
    price_in, price_out = PAID_PRICE
    return credits_for_usd((input_tokens * price_in + output_tokens * price_out) / 1_000_000)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def seconds_to_midnight(moment: datetime) -> int:
    """Whole seconds (at least one) from `moment` to the end of its UTC day."""
    midnight = datetime.combine(utc_day(moment) + timedelta(days=1), time_of_day.min, UTC)
    return max(1, int((midnight - moment).total_seconds()))


def prompt_bound(prompt: str, model: str) -> int:
    """The most tokens any provider can bill for the prompt: its UTF-8 bytes and the template's allowance
    (8 a message, 8 before the answer), within the model's context."""
    return min(len(prompt.encode()) + len(b"user") + 8 + 8, CONTEXT[model])


# ---------------------------------------------------------------------------------------------- the model


@dataclass
class SessionModel:
    """One login: the access tokens and the refresh tokens issued to it, in order."""

    access: list[str]
    refresh: list[str]
    used: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class UserModel:
    email: str
    id: uuid.UUID
    plan: str = "free"
    blocked: bool = False
    balance: Decimal = Decimal(0)
    requests: Counter[date] = field(default_factory=Counter)  # completions counted, per UTC day
    tokens: Counter[date] = field(default_factory=Counter)
    sessions: list[SessionModel] = field(default_factory=list)
    keys: dict[str, tuple[tuple, int, dict]] = field(default_factory=dict)  # key → (request, status, body)
    login_failures: int = 0  # since the last successful login (the per-account throttle)
    events: Counter[str] = field(default_factory=Counter)
    ledger_rows: int = 0
    reservations_ended: Counter[str] = field(default_factory=Counter)  # settled | refunded, once each


EVENTS = (
    "llm.call_succeeded",
    "llm.call_failed",
    "quota.exceeded",
    "balance.insufficient",
    "balance.topped_up",
    "balance.charged",
    "balance.refunded",
    "balance.adjusted",
    "user.blocked",
    "user.unblocked",
    "plan.changed",
)


class World:
    """What outlives one run: the app, the database, the admin, and the figures of every run."""

    def __init__(self, client: TestClient, settings, admin_tokens: dict) -> None:
        self.client = client
        self.settings = settings
        self.engine = make_sync_engine(settings)
        self.admin_refresh = admin_tokens["refresh_token"]
        self.admin = bearer(admin_tokens["access_token"])
        self.runs = 0
        self.steps = 0
        self.checks = 0  # invariant evaluations (API and database) that had accounts to compare
        self.rules: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()

    def refresh_admin(self) -> None:
        """A fresh admin access token for each run (the long profile outlasts one token's 15 minutes)."""
        response = self.client.post("/api/v1/auth/refresh", json={"refresh_token": self.admin_refresh})
        assert response.status_code == 200, response.text
        self.admin_refresh = response.json()["refresh_token"]
        self.admin = bearer(response.json()["access_token"])


# ---------------------------------------------------------------------------------------------- the machine


class AccountsMachine(RuleBasedStateMachine):
    world: World  # set by the test

    def __init__(self) -> None:
        super().__init__()
        world = self.world
        world.runs += 1
        self.tag = uuid.uuid4().hex[:12]
        self.users: list[UserModel] = []
        self.ip = f"10.{world.runs // 250 % 250}.{world.runs % 250}.{uuid.uuid4().int % 250 + 1}"
        self.ip_failures = 0  # failed logins from this run's address (the per-IP throttle)
        self.sent: list[tuple[UserModel, str, tuple]] = []  # requests sent with an Idempotency-Key
        self.touched: UserModel | None = None  # the account the last step acted on
        world.client.headers["X-Forwarded-For"] = self.ip
        world.refresh_admin()

    # ------------------------------------------------------------------ helpers

    @property
    def http(self) -> TestClient:
        return self.world.client

    def _step(self, name: str) -> None:
        self.world.steps += 1
        self.world.rules[name] += 1

    def _seen(self, name: str, response) -> None:
        code = response.json()["error"]["code"] if response.status_code >= 400 else ""
        self.world.outcomes[f"{name} {response.status_code} {code}".strip()] += 1

    @staticmethod
    def _is(response, status: int, code: str | None = None) -> None:
        assert response.status_code == status, f"expected {status} {code or ''}, got {response.text}"
        if code is not None:
            assert response.json()["error"]["code"] == code, response.text

    def _user(self, who: int) -> UserModel:
        self.touched = self.users[who % len(self.users)]
        return self.touched

    @staticmethod
    def _access(user: UserModel, pick: int) -> tuple[SessionModel, str]:
        live = [s for s in user.sessions if not s.revoked]
        if pick < 70 and live:
            return live[-1], live[-1].access[-1]
        every = [(s, t) for s in user.sessions for t in s.access]
        return every[pick % len(every)]

    @staticmethod
    def _refused(user: UserModel, session: SessionModel) -> tuple[int, str] | None:
        """How a request with this session's access token is refused before it does anything."""
        if session.revoked:
            return REFUSED_TOKEN
        if user.blocked:
            return BLOCKED
        return None

    def _keyed(self, user: UserModel, key: str | None, request: tuple, response, name: str) -> bool:
        """For a request sent with `key`: True when the key's first answer (or its refusal) was checked."""
        if key is None or key not in user.keys:
            return False
        first_request, status, body = user.keys[key]
        if first_request == request:  # a retry: the first answer again, nothing done twice
            self._is(response, status)
            assert response.json() == body, (response.json(), body)
            self.world.outcomes[f"{name} replayed"] += 1
        else:
            self._is(response, 422, "idempotency_key_reused")
        return True

    def _window(self, user: UserModel, before: date, after: date, outcome, response) -> date:
        """The UTC day the server counted a call in: the day it ran, from before or after it was sent.

        Only a call that crosses midnight can be in either; the outcome, then the quota row, tells."""
        days = [before] if before == after else [before, after]
        matching = [day for day in days if outcome(day)]
        assert matching, f"no UTC day of {days} explains {response.status_code} {response.text}"
        if len(matching) == 1:
            return matching[0]
        with self.world.engine.connect() as conn:
            counted = conn.scalar(
                select(QuotaUsage.used).where(
                    QuotaUsage.account_id == user.id,
                    QuotaUsage.metric == DAILY_REQUESTS,
                    QuotaUsage.window_start == after,
                )
            )
        return after if (counted or 0) > user.requests[after] else before

    def _login(self, user: UserModel) -> None:
        response = self.http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        self._seen("login", response)
        settings = self.world.settings
        if (
            user.login_failures >= settings.login_max_failures_per_account
            or self.ip_failures >= settings.login_max_failures_per_ip
        ):
            self._is(response, 429, "too_many_attempts")
        elif user.blocked:
            self._is(response, *BLOCKED)
            user.login_failures += 1
            self.ip_failures += 1
        else:
            self._is(response, 200)
            pair = response.json()
            user.sessions.append(SessionModel([pair["access_token"]], [pair["refresh_token"]]))
            user.login_failures = 0

    # ------------------------------------------------------------------ rules: the end user

    @initialize(paying=st.booleans())
    def first_user(self, paying: bool) -> None:
        """The run's first account; half the runs move it to the paid plan and top it up first (through the
        same rules), so that paid calls are reached within the fast profile's few steps."""
        self.register()
        if paying:
            self.change_plan(0, "pro")
            self.top_up(0, 0, "1.00", "USD", None)

    @precondition(lambda self: len(self.users) < MAX_USERS)
    @rule()
    def register(self) -> None:
        """Sign up, confirm the email through the mailed link, sign in."""
        self._step("register")
        email = f"sm-{self.tag}-{len(self.users)}@example.com"
        response = self.http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        self._seen("register", response)
        self._is(response, 202)  # the same answer for a taken email: the account is read from the database
        with self.world.engine.connect() as conn:
            account = conn.execute(
                select(Account.id, Account.plan_code, Account.is_blocked).where(Account.email == email)
            ).one()
        assert account.plan_code == "free" and account.is_blocked is False
        token = link_token(self.world.settings, email, "confirm_email")
        self._is(self.http.get("/api/v1/auth/confirm-email", params={"token": token}), 200)
        user = UserModel(email, account.id)
        self.users.append(user)
        self.touched = user
        self._login(user)

    @precondition(lambda self: self.users)
    @rule(who=WHO)
    def login(self, who: int) -> None:
        self._step("login")
        self._login(self._user(who))

    @precondition(lambda self: self.users)
    @rule(who=WHO, pick=PICK)
    def refresh(self, who: int, pick: int) -> None:
        """Rotate a refresh token: the newest of a live session, or any one ever issued (a stolen copy)."""
        self._step("refresh")
        user = self._user(who)
        live = [s for s in user.sessions if not s.revoked and s.refresh[-1] not in s.used]
        if pick < 70 and live:
            session, token = live[-1], live[-1].refresh[-1]
        else:
            every = [(s, t) for s in user.sessions for t in s.refresh]
            session, token = every[pick % len(every)]
        response = self.http.post("/api/v1/auth/refresh", json={"refresh_token": token})
        self._seen("refresh", response)
        if session.revoked:
            self._is(response, 401, "invalid_refresh_token")
        elif user.blocked:
            self._is(response, *BLOCKED)
        elif token in session.used:  # a copy of a spent token: the whole session ends
            self._is(response, 401, "refresh_token_reused")
            session.revoked = True
        else:
            self._is(response, 200)
            session.used.add(token)
            session.access.append(response.json()["access_token"])
            session.refresh.append(response.json()["refresh_token"])

    @precondition(lambda self: self.users)
    @rule(who=WHO, pick=PICK)
    def logout(self, who: int, pick: int) -> None:
        self._step("logout")
        user = self._user(who)
        session, token = self._access(user, pick)
        response = self.http.post("/api/v1/auth/logout", headers=bearer(token))
        self._seen("logout", response)
        refused = self._refused(user, session)
        if refused:
            self._is(response, *refused)
        else:
            self._is(response, 204)
            session.revoked = True

    @precondition(lambda self: self.users)
    @rule(
        who=WHO,
        pick=PICK,
        model=st.sampled_from(sorted(TIERS)),
        prompt=st.sampled_from(PROMPTS),
        fail=st.integers(0, 9).map(lambda n: n == 0),  # one call in ten: the provider fails
        key=KEYS,
    )
    def complete(self, who: int, pick: int, model: str, prompt: str, fail: bool, key: str | None) -> None:
        """POST /v1/chat/completions: counted against the day, paid models charged, failures given back."""
        self._step("complete")
        self._complete(self._user(who), pick, model, prompt, fail, key)

    def _complete(self, user: UserModel, pick: int, model: str, prompt: str, fail: bool, key: str | None):
        if key:
            self.sent.append((user, "complete", (pick, model, prompt, fail, key)))
        self.touched = user
        session, token = self._access(user, pick)
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        if fail:
            body["metadata"] = {"mock": "fail"}
        headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
        sent_at = utcnow()
        response = self.http.post("/v1/chat/completions", headers=headers, json=body)
        answered_at = utcnow()
        before, after = utc_day(sent_at), utc_day(answered_at)
        self._seen(f"complete {model}", response)

        refused = self._refused(user, session)
        if refused:
            self._is(response, *refused)
            return
        request = ("complete", model, prompt, fail)
        if self._keyed(user, key, request, response, "complete"):
            return

        plan = PLANS[user.plan]
        paid = TIERS[model] == "paid"
        # The most the call can cost: the prompt's bound and the answer's limit (api/gateway/bounds.py).
        reserve = paid_credits(prompt_bound(prompt, model), MAX_OUTPUT[model]) if paid else Decimal(0)

        def expected(day: date) -> tuple[int, str | None]:
            if TIERS[model] not in plan.tiers:
                return 403, "model_not_in_plan"
            if user.requests[day] >= plan.daily_requests:
                return 429, "quota_exceeded"
            if user.balance < reserve:
                return 402, "insufficient_balance"
            return (502, "provider_error") if fail else (200, None)

        def outcome(day: date) -> bool:
            status, code = expected(day)
            return response.status_code == status and (
                code is None or response.json()["error"]["code"] == code
            )

        day = self._window(user, before, after, outcome, response)
        status, code = expected(day)
        self._is(response, status, code)
        if status == 429:
            user.events["quota.exceeded"] += 1
            if before == after:  # Retry-After: the seconds left of the UTC day, at some moment of the call
                retry_after = int(response.headers["Retry-After"])
                assert seconds_to_midnight(answered_at) <= retry_after <= seconds_to_midnight(sent_at)
        elif status == 402:
            user.events["balance.insufficient"] += 1
        elif status == 502:
            user.events["llm.call_failed"] += 1
            if paid:  # reserved, then refunded in full
                user.events["balance.refunded"] += 1
                user.ledger_rows += 2
                user.reservations_ended["refunded"] += 1
        elif status == 200:
            predicted = answer(model, [ChatMessage("user", prompt)], None)
            out = response.json()
            assert out["model"] == model and out["choices"][0]["message"]["content"] == predicted.content
            assert out["usage"] == {
                "prompt_tokens": predicted.input_tokens,
                "completion_tokens": predicted.output_tokens,
                "total_tokens": predicted.input_tokens + predicted.output_tokens,
            }
            user.requests[day] += 1
            user.tokens[day] += predicted.input_tokens + predicted.output_tokens
            user.events["llm.call_succeeded"] += 1
            if paid:  # the worst case reserved, the unused part refunded: the exact cost paid
                user.balance -= paid_credits(predicted.input_tokens, predicted.output_tokens)
                user.events["balance.charged"] += 1
                user.ledger_rows += 2
                user.reservations_ended["settled"] += 1
            if key:
                user.keys[key] = (request, 200, out)

    @precondition(lambda self: self.users)
    @rule(
        who=WHO,
        pick=PICK,
        amount=st.sampled_from(AMOUNTS),
        currency=st.sampled_from(("USD", "USD", "usd", "EUR")),
        key=KEYS,
    )
    def top_up(self, who: int, pick: int, amount: str, currency: str, key: str | None) -> None:
        """A test top-up: money at the rate becomes credits; a retried key adds them once."""
        self._step("top_up")
        self._top_up(self._user(who), pick, amount, currency, key)

    def _top_up(self, user: UserModel, pick: int, amount: str, currency: str, key: str | None) -> None:
        if key:
            self.sent.append((user, "top_up", (pick, amount, currency, key)))
        self.touched = user
        session, token = self._access(user, pick)
        headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
        response = self.http.post(
            "/api/v1/me/balance/top-up", headers=headers, json={"amount": amount, "currency": currency}
        )
        self._seen("top_up", response)
        refused = self._refused(user, session)
        if refused:
            self._is(response, *refused)
            return
        request = ("top_up", amount, currency)
        if self._keyed(user, key, request, response, "top_up"):
            return
        if currency.upper() != "USD":
            self._is(response, 422, "currency_mismatch")
            return
        credits = (Decimal(amount) / PRICE_PER_CREDIT).quantize(STEP, rounding=ROUND_FLOOR)
        user.balance += credits
        self._is(response, 201)
        out = response.json()
        assert Decimal(out["credits"]) == credits and Decimal(out["balance"]) == user.balance, out
        user.events["balance.topped_up"] += 1
        user.ledger_rows += 1
        if key:
            user.keys[key] = (request, 201, out)

    @precondition(lambda self: self.sent)
    @rule(which=st.integers(0, 99))
    def retry(self, which: int) -> None:
        """Send a request made with an Idempotency-Key again, as a client whose answer got lost would: the
        first answer if it had one, else (a refusal releases its key) the request runs for real."""
        self._step("retry")
        user, kind, args = self.sent[-1 - which % len(self.sent)]
        (self._complete if kind == "complete" else self._top_up)(user, *args)

    # ------------------------------------------------------------------ rules: staff

    def _admin(self, user: UserModel, action: str, body: dict):
        response = self.http.post(f"{USERS}/{user.id}/{action}", headers=self.world.admin, json=body)
        self._seen(action, response)
        return response

    def _among(self, who: int, likely: list[UserModel]) -> UserModel:
        """Mostly one of `likely` (whom the action can change), sometimes anyone (to see it refused)."""
        self.touched = likely[who % len(likely)] if likely and who < 80 else self.users[who % len(self.users)]
        return self.touched

    # At most two blocked at a time: a run whose accounts are all blocked has little left to test.
    @precondition(lambda self: self.users and sum(u.blocked for u in self.users) < min(2, len(self.users)))
    @rule(who=st.integers(0, 99))
    def block(self, who: int) -> None:
        self._step("block")
        user = self._among(who, [u for u in self.users if not u.blocked])
        response = self._admin(user, "block", {"reason": "state machine"})
        if user.blocked:
            self._is(response, 409, "no_change")
        else:
            self._is(response, 200)
            assert response.json()["is_blocked"] is True
            user.blocked = True
            for session in user.sessions:  # a block ends them for good (an unblock revives none)
                session.revoked = True
            user.events["user.blocked"] += 1

    @precondition(lambda self: any(u.blocked for u in self.users))
    @rule(who=st.integers(0, 99))
    def unblock(self, who: int) -> None:
        self._step("unblock")
        user = self._among(who, [u for u in self.users if u.blocked])
        response = self._admin(user, "unblock", {"reason": "state machine"})
        if not user.blocked:
            self._is(response, 409, "no_change")
        else:
            self._is(response, 200)
            assert response.json()["is_blocked"] is False
            user.blocked = False
            user.events["user.unblocked"] += 1

    @precondition(lambda self: self.users)
    @rule(who=WHO, plan=st.sampled_from(("free", "pro", "pro", "platinum")))
    def change_plan(self, who: int, plan: str) -> None:
        self._step("change_plan")
        user = self._user(who)
        response = self._admin(user, "plan", {"plan": plan})
        if plan not in PLANS:
            self._is(response, 422, "unknown_plan")
        elif plan == user.plan:
            self._is(response, 409, "no_change")
        else:
            self._is(response, 200)
            assert response.json()["plan_code"] == plan
            user.plan = plan
            user.events["plan.changed"] += 1

    @precondition(lambda self: self.users)
    @rule(who=WHO, amount=st.sampled_from(ADJUSTMENTS))
    def adjust_balance(self, who: int, amount: str) -> None:
        self._step("adjust_balance")
        user = self._user(who)
        response = self._admin(user, "balance", {"amount": amount, "reason": "state machine"})
        if user.balance + Decimal(amount) < 0:
            self._is(response, 402, "insufficient_balance")
        else:
            user.balance += Decimal(amount)
            self._is(response, 200)
            assert Decimal(response.json()["balance"]) == user.balance
            user.events["balance.adjusted"] += 1
            user.ledger_rows += 1

    # ------------------------------------------------------------------ invariants

    @invariant()
    def the_api_agrees_with_the_model(self) -> None:
        """The account the step acted on, through its own eyes while it may look, else through staff's.

        (Every account is checked both ways at the end of the run, and in the database after every step.)
        """
        if self.touched is None:
            return
        self.world.checks += 1
        if not self._own_view(self.touched):
            self._staff_view([self.touched])

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None:  # the run failed already: let its error be the one reported
            return
        if self.users:
            self._staff_view(self.users)
        for user in self.users:
            self._own_view(user)

    def _staff_view(self, users: list[UserModel]) -> None:
        """Balance, plan and blocked state as the admin users list shows them."""
        query = self.tag if len(users) > 1 else users[0].email
        page = self.http.get(USERS, params={"q": query, "limit": 50}, headers=self.world.admin)
        self._is(page, 200)
        seen = {item["email"]: item for item in page.json()["items"]}
        assert set(seen) == {u.email for u in users}, seen
        for user in users:
            item = seen[user.email]
            assert (Decimal(item["balance"]), item["plan_code"], item["is_blocked"]) == (
                user.balance,
                user.plan,
                user.blocked,
            ), (user.email, item)

    def _own_view(self, user: UserModel) -> bool:
        """The balance (GET /me/balance) and the day's requests against the plan (GET /me/usage); False
        when the account cannot look (no live session, or blocked: then it must be refused)."""
        live = [s for s in user.sessions if not s.revoked]
        if not live:
            return False
        headers = bearer(live[-1].access[-1])
        if user.blocked:
            self._is(self.http.get("/api/v1/me/usage", headers=headers), *BLOCKED)
            return False
        balance = self.http.get("/api/v1/me/balance", headers=headers)
        self._is(balance, 200)
        assert Decimal(balance.json()["balance"]) == user.balance, (user.email, balance.json())
        usage = self.http.get("/api/v1/me/usage", headers=headers)
        self._is(usage, 200)
        usage = usage.json()
        # The server's window is the UTC day before its reset, whenever it read it.
        resets_at = datetime.fromisoformat(usage["requests_today"]["resets_at"])
        assert resets_at.utcoffset() == timedelta(0) and resets_at.time() == time_of_day.min, resets_at
        day = (resets_at - timedelta(days=1)).date()
        limit = PLANS[user.plan].daily_requests
        assert usage["plan"] == user.plan
        assert usage["requests_today"] == {
            "used": user.requests[day],
            "limit": limit,
            "remaining": max(0, limit - user.requests[day]),
            "resets_at": usage["requests_today"]["resets_at"],
        }, (user.email, usage)
        assert usage["tokens_today"]["used"] == user.tokens[day], (user.email, usage)
        this_month = sum(n for d, n in user.tokens.items() if (d.year, d.month) == (day.year, day.month))
        assert usage["tokens_this_month"]["used"] == this_month, (user.email, usage)
        return True

    @invariant()
    def the_database_agrees_with_the_model_and_the_ledger_with_the_balance(self) -> None:
        if not self.users:
            return
        self.world.checks += 1
        ids = [u.id for u in self.users]
        with self.world.engine.connect() as conn:
            accounts = {
                row.id: row
                for row in conn.execute(
                    select(Account.id, Account.balance, Account.plan_code, Account.is_blocked).where(
                        Account.id.in_(ids)
                    )
                )
            }
            ledger = conn.execute(
                select(LedgerEntry.account_id, LedgerEntry.amount, LedgerEntry.balance_after)
                .where(LedgerEntry.account_id.in_(ids))
                .order_by(LedgerEntry.id)
            ).all()
            quota = conn.execute(
                select(
                    QuotaUsage.account_id, QuotaUsage.metric, QuotaUsage.window_start, QuotaUsage.used
                ).where(QuotaUsage.account_id.in_(ids), QuotaUsage.metric.in_((DAILY_REQUESTS, DAILY_TOKENS)))
            ).all()
            keys = conn.execute(
                select(
                    IdempotencyRecord.account_id, IdempotencyRecord.key, IdempotencyRecord.status_code
                ).where(IdempotencyRecord.account_id.in_(ids))
            ).all()
            events = conn.execute(
                select(UsageEvent.user_id, UsageEvent.type, func.count())
                .where(UsageEvent.user_id.in_(ids), UsageEvent.type.in_(EVENTS))
                .group_by(UsageEvent.user_id, UsageEvent.type)
            ).all()
            sessions = conn.execute(
                select(AuthSession.account_id, AuthSession.revoked_at.is_(None), func.count())
                .where(AuthSession.account_id.in_(ids))
                .group_by(AuthSession.account_id, AuthSession.revoked_at.is_(None))
            ).all()
            ended = conn.execute(
                select(ReservationSettlement.account_id, ReservationSettlement.outcome, func.count())
                .where(ReservationSettlement.account_id.in_(ids))
                .group_by(ReservationSettlement.account_id, ReservationSettlement.outcome)
            ).all()
        for user in self.users:
            row = accounts[user.id]
            assert (row.balance, row.plan_code, row.is_blocked) == (user.balance, user.plan, user.blocked)
            running, rows = Decimal(0), 0
            for entry in (e for e in ledger if e.account_id == user.id):
                running += entry.amount
                rows += 1
                assert entry.balance_after == running and running >= 0, (user.email, entry)
            assert running == row.balance, (user.email, running, row.balance)
            assert rows == user.ledger_rows, (user.email, rows, user.ledger_rows)
            counted = {(m, d): n for a, m, d, n in quota if a == user.id and n}
            expected = {(DAILY_REQUESTS, d): n for d, n in user.requests.items() if n}
            expected |= {(DAILY_TOKENS, d): n for d, n in user.tokens.items() if n}
            assert counted == expected, (user.email, counted, expected)
            # Every paid call's reservation ended exactly once, as what happened to the call.
            claims = Counter({outcome: n for a, outcome, n in ended if a == user.id})
            assert claims == +user.reservations_ended, (user.email, claims, user.reservations_ended)
            stored = {k: status for a, k, status in keys if a == user.id}
            assert stored == {k: status for k, (_, status, _) in user.keys.items()}, (user.email, stored)
            recorded = Counter({t: n for a, t, n in events if a == user.id})
            assert recorded == +user.events, (user.email, recorded, user.events)
            live = {is_live: n for a, is_live, n in sessions if a == user.id}
            assert live.get(True, 0) == sum(not s.revoked for s in user.sessions), (user.email, live)
            assert live.get(False, 0) == sum(s.revoked for s in user.sessions), (user.email, live)


# ---------------------------------------------------------------------------------------------- the test


@pytest.fixture
def machine_settings(settings):
    # Each run calls from its own address (X-Forwarded-For), so failed logins of one run never throttle
    # the next; the mock provider fails when a request asks it to.
    return settings.model_copy(update={"trusted_proxies": 1, "mock_faults": True})


def _admin_tokens(client: TestClient, settings) -> dict:
    """An admin of the test's own (TOTP enrolled, as an admin must be): its first token pair."""
    email = f"sm-admin-{uuid.uuid4().hex[:8]}@example.com"
    create_staff_account(settings, email, "admin")
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    enrol_two_factor(client, bearer(login.json()["access_token"]))
    return login.json()


# PostgreSQL, the production database, always; SQLite too under the long profile (both would take the fast
# profile past its minute).
@pytest.mark.parametrize(
    "database_url",
    [
        *(["sqlite"] if PROFILE.name == "long" else []),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)
def test_accounts_sessions_credits_and_quotas_agree_with_the_model_after_every_step(machine_settings):
    database = "postgresql" if machine_settings.database_url.startswith("postgresql") else "sqlite"
    started = time.perf_counter()
    with TestClient(create_app(machine_settings)) as client:
        world = World(client, machine_settings, _admin_tokens(client, machine_settings))
        machine = type("AccountsMachine", (AccountsMachine,), {"world": world})
        try:
            run_state_machine_as_test(machine)
        finally:
            world.engine.dispose()
    report(
        "state_machine",
        database,
        runs=world.runs,
        steps=world.steps,
        invariant_checks=world.checks,
        seconds=round(time.perf_counter() - started, 1),
        rule_counts=dict(sorted(world.rules.items())),
        outcomes=dict(sorted(world.outcomes.items())),
    )
