"""Demo data: months of users, chats and calls, made by the same domain code the API runs, back-dated.

Nothing is inserted behind the domain's back: users register and log in through `api.auth`, pay through
`api.billing`, chat through `api.gateway.service.complete` (quotas, credits, chats and messages, refunds of
failed calls), and the demo admin changes plans and blocks accounts through `api.users.admin`. So the
usage events, the ledger and the chats are the ones the real service would have written.

The shape is meant to look like a young service: registrations grow over the period, most users come
from a few countries and the rest from a long tail, activity follows the local hour of day and dips at
weekends, many users try the service once and leave, a few heavy users make most of the calls, free users
hit the 3-requests-a-day quota, calls sometimes fail (more during an occasional provider incident) and
are refunded. Everything is drawn from one seeded random generator: a seed gives the same data for the
same period (`now` and the number of days; only today's part depends on the time of day).

Speed is that of the gateway's own bookkeeping (~15 ms of CPU a call): about 60-70 calls a second on
SQLite, `--users 2000 --days 90` (some 36,000 calls, 80,000 usage events) in about ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time as clock
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from api.accounts import repository as accounts
from api.accounts.models import Account
from api.audit.service import AuditContext
from api.auth import service as auth
from api.billing import service as billing
from api.billing.service import InsufficientBalance
from api.catalogue.service import (
    Catalogue,
    ModelNotFound,
    ModelNotInPlan,
    ModelRequired,
    ModelSpec,
    RoleNotFound,
)
from api.chats import repository as chats
from api.core.db import Database
from api.core.errors import AppError, ProviderUnavailable, QuotaExceeded
from api.core.settings import Settings
from api.events.models import UsageEvent
from api.events.outbox import RequestContext
from api.gateway import service as gateway_service
from api.gateway.service import ChatLimitReached, ChatMessageLimitReached, Gateway, MaxTokensTooLarge
from api.providers.base import ChatMessage
from api.users import admin as users_admin
from api.users import service as users_service

DEMO_ADMIN_EMAIL = "admin@aiadmin.example.com"
DEMO_ADMIN_PASSWORD = "admin-demo-pass"  # noqa: S105 (printed by `make run`; local demo only)
DEMO_USER_PASSWORD = "user-demo-pass"  # noqa: S105
DEMO_USER_EMAIL = "user{n}@demo.aiadmin.example.com"
DEMO_DOMAIN = "@demo.aiadmin.example.com"

# ISO code, share of users, hours from UTC (of the most populated part): a few big markets, a long tail.
COUNTRIES = (
    ("US", 17, -6), ("IN", 10, 5.5), ("BR", 6, -3), ("DE", 6, 1), ("GB", 5, 0), ("FR", 4, 1),
    ("RU", 4, 3), ("ID", 3, 7), ("JP", 3, 9), ("CA", 3, -5), ("MX", 3, -6), ("ES", 3, 1), ("IT", 3, 1),
    ("TR", 2.5, 3), ("PL", 2, 1), ("NL", 2, 1), ("KR", 2, 9), ("UA", 2, 2), ("AU", 2, 10),
    ("VN", 1.5, 7), ("PH", 1.5, 8), ("NG", 1.5, 1), ("EG", 1, 2), ("AR", 1, -3), ("CO", 1, -5),
    ("SE", 1, 1), ("CH", 1, 1), ("PK", 1, 5), ("TH", 1, 7), ("BD", 0.8, 6), ("MY", 0.8, 8),
    ("ZA", 0.8, 2), ("IL", 0.7, 2), ("PT", 0.7, 0), ("CZ", 0.6, 1), ("RO", 0.6, 2), ("SG", 0.6, 8),
    ("AE", 0.6, 4), ("KE", 0.5, 3), ("NZ", 0.3, 12),
)  # fmt: skip
CLIENTS = (("web", 55), ("telegram", 28), ("api", 17))
USER_AGENTS = {
    "web": "Mozilla/5.0 (aiadmin demo web app)",
    "telegram": "aiadmin-telegram-bot/1.4",
    "api": "python-httpx/0.28 (aiadmin demo)",
}
# Relative activity by local hour: quiet nights, a working-day plateau, an evening bump.
HOUR_WEIGHTS = (
    1.0, 0.6, 0.35, 0.25, 0.2, 0.3, 0.6, 1.2, 2.0, 2.9, 3.4, 3.6,
    3.3, 3.4, 3.6, 3.5, 3.3, 3.0, 2.8, 3.0, 3.2, 3.0, 2.4, 1.6,
)  # fmt: skip
WEEKDAY_FACTOR = (1.0, 1.02, 1.0, 0.97, 0.9, 0.62, 0.68)  # Monday .. Sunday
ROLE_WEIGHTS = {None: 35, "paraphrase": 25, "fix-grammar": 22, "prompt-writer": 18}
OPENERS = {
    None: (
        "Summarise the plot of Hamlet in two sentences.",
        "Explain the difference between a list and a tuple in Python.",
        "What should I pack for three days of hiking in October?",
        "Give me five names for a small coffee shop by the sea.",
        "How do I centre a div with CSS grid?",
        "Write a polite reminder to a client about an unpaid invoice.",
        "Explain compound interest to a twelve-year-old.",
        "Plan a vegetarian dinner for six people.",
        "What is the capital of Australia and why is it not Sydney?",
        "Draft a short bio for a conference speaker who builds data pipelines.",
        "Translate 'good morning, see you at the station' into French.",
        "Suggest a weekly running plan for a beginner.",
    ),
    "paraphrase": (
        "Paraphrase: the meeting moved to Thursday because half the team is travelling.",
        "Paraphrase: our quarterly results exceeded expectations in every region.",
        "Paraphrase: please find attached the documents you asked for yesterday.",
        "Paraphrase: the new policy applies to all employees from next month.",
        "Paraphrase: we regret to inform you that the event has been cancelled.",
        "Paraphrase: the app crashes when I open the settings page on my phone.",
    ),
    "fix-grammar": (
        "Fix the grammar: me and him goes to school yesterday.",
        "Fix the grammar: their going to the park tomorow if it dont rain.",
        "Fix the grammar: I has finished the report but it need more datas.",
        "Fix the grammar: the team have decided that they will not coming.",
        "Fix the grammar: can you sent me the file who you mentioned?",
        "Fix the grammar: she don't like coffee, she prefer tea in the mornings.",
    ),
    "prompt-writer": (
        "Write a prompt for a Python code reviewer that checks for security issues.",
        "Write a prompt that turns meeting notes into action items with owners.",
        "Write a prompt for summarising customer support tickets by sentiment.",
        "Write a prompt for a SQL tutor who explains joins with examples.",
        "Write a prompt that extracts dates and amounts from invoices as JSON.",
    ),
}
TOP_UPS = (5, 10, 10, 20, 20, 50)  # in the credit currency
FOLLOW_UPS = (
    "Make it shorter.",
    "Now in a more formal tone, please.",
    "Can you give me two more variants?",
    "Explain the second point in more detail.",
    "Thanks! Now do the same for this: the deadline is next Friday at noon.",
    "Use simpler words.",
    "Add a concrete example.",
    "Turn it into a bullet list.",
)


Progress = Callable[[int, int, dict[str, int]], None]


class DemoRefused(AppError):
    status_code = 409
    code = "demo_refused"


async def account_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def ensure_demo_admin(db: Database, settings: Settings, at: datetime | None = None) -> Account:
    """The demo admin (made at `at`, else now), or the one already there."""
    async with db.sessionmaker() as session:
        admin = await accounts.get_account_by_email(session, DEMO_ADMIN_EMAIL)
        if admin is None:
            admin = await users_service.create_staff(
                session,
                settings,
                email=DEMO_ADMIN_EMAIL,
                password=DEMO_ADMIN_PASSWORD,
                role="admin",
                at=at or datetime.now(UTC),
            )
        return admin


@dataclass(eq=False)
class DemoChat:
    id: uuid.UUID
    role: str | None
    model: str | None  # None: the role's default model answers
    messages: int = 0
    history: list[ChatMessage] = field(default_factory=list)


@dataclass(eq=False)
class DemoUser:
    """One simulated person: who they are (drawn up front) and what they have done so far."""

    registered_at: datetime
    signup_day: int
    country: str
    utc_offset: float
    client: str
    plan: str
    kind: str  # "heavy", "power" or "regular"
    activity: float  # chance of being active on an ordinary day
    calls_per_day: float
    last_day: int | None  # churn: the last day they come back on (None: they stay)
    login_every: int  # days a sign-in lasts before they sign in again
    first_top_up: Decimal | None  # paid at sign-up (paying plan), in the credit currency
    n: int = 0
    protected: bool = False  # the user `make run` prints: never blocked nor downgraded
    account: Account | None = None
    ip: str = ""
    last_login_day: int | None = None
    next_top_up_day: int | None = None
    prefers_free: bool = False
    blocked: bool = False
    block_login_tried: bool = False
    not_before: datetime | None = None  # an admin changed the account at this moment of the day
    refusals: int = 0
    chats: list[DemoChat] = field(default_factory=list)


def _weighted(rng: random.Random, pairs):
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def _mock_only(spec: ModelSpec) -> bool:
    return bool(spec.routes) and all(route.provider.kind == "mock" for route in spec.routes)


# What a client gets wrong on its own side (the catalogue changed under it): the call is dropped.
REJECTED = (ModelNotFound, ModelNotInPlan, ModelRequired, RoleNotFound, MaxTokensTooLarge)
STATS = (
    "users", "logins", "failed_logins", "chats", "messages", "calls", "failed_calls", "quota_refusals",
    "chat_limit_refusals", "insufficient_balance", "top_ups", "deleted_chats", "plan_changes", "blocks",
    "unblocks",
)  # fmt: skip


class DemoRun:
    """The whole simulation: people drawn up front, then day by day the admin's actions, the day's
    sign-ups and each active person's visits, through the domain code.

    Sign-ups and sign-ins run two at a time (their password hashing overlaps); they draw nothing from
    the random generator, so the data do not depend on which finishes first."""

    def __init__(
        self, db: Database, settings: Settings, *, users_count: int, days: int, seed: int, now: datetime
    ) -> None:
        self.db = db
        self.settings = settings
        # The demo's own gateway may ask the offline mock to fail (it only calls models the mock serves).
        self.gateway = Gateway(settings.model_copy(update={"mock_faults": True}))
        self.rng = random.Random(seed)
        self.users_count = users_count
        self.days = days
        self.now = now
        self.first_day = now.date() - timedelta(days=days - 1)
        self.stats: dict[str, int] = dict.fromkeys(STATS, 0)
        self.admin: Account | None = None
        self.admin_ctx = RequestContext(client="admin-panel", ip="10.255.0.1", user_agent="aiadmin panel")
        self.people: list[DemoUser] = []
        self.catalogue: Catalogue | None = None
        self.models: dict[str, tuple[list[str], list[str]]] = {}  # plan: (free-tier, paid-tier) model ids
        self.incidents: list[tuple[datetime, datetime]] = []
        self.budget = {"upgrade": 0, "downgrade": 0, "block": 0, "unblock": 0}
        self.expected_done: list[float] = []  # share of the expected calls made by the end of each day
        self.hashing = asyncio.Semaphore(2)  # sign-ups and sign-ins hashing at once

    # ------------------------------------------------------------------ the people, drawn up front

    def _day_start(self, day_index: int) -> datetime:
        return datetime.combine(self.first_day + timedelta(days=day_index), time.min, UTC)

    def _moment(self, day_index: int, utc_offset: float) -> datetime:
        """A moment of the day, at a local hour drawn from the hour-of-day pattern."""
        hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
        local = timedelta(hours=hour, seconds=self.rng.randrange(3600))
        return self._day_start(day_index) + local - timedelta(hours=utc_offset)

    def _signup_day(self) -> int:
        """Sign-ups grow about e^2 (7x) from the first day to the last, fewer at weekends."""
        growth = 2.0
        while True:
            spread = math.log1p(self.rng.random() * math.expm1(growth)) / growth
            day = min(self.days - 1, int(spread * self.days))
            if self.rng.random() < WEEKDAY_FACTOR[(self.first_day + timedelta(days=day)).weekday()]:
                return day

    def _draw_people(self, first_number: int) -> None:
        rng = self.rng
        for _ in range(self.users_count):
            signup_day = self._signup_day()
            country, _share, offset = _weighted(rng, [(c, c[1]) for c in COUNTRIES])
            kind = _weighted(rng, (("heavy", 2), ("power", 10), ("regular", 88)))
            clients = (("api", 50), ("web", 35), ("telegram", 15)) if kind == "heavy" else CLIENTS
            pro_share = {"heavy": 0.6, "power": 0.35, "regular": 0.08}[kind]
            lifetime = _weighted(rng, (("once", 20), ("leaves", 32), ("stays", 48)))
            if kind == "heavy" or lifetime == "stays":
                last_day = None
            elif lifetime == "once":
                last_day = signup_day
            else:
                last_day = signup_day + 1 + int(rng.expovariate(1 / 20))
            registered_at, fallback = self._moment(signup_day, offset), rng.random()
            if registered_at >= self.now or registered_at < self._day_start(0):  # today's: before now
                start = self._day_start(signup_day)
                registered_at = start + (min(self.now, start + timedelta(days=1)) - start) * fallback
            self.people.append(
                DemoUser(
                    registered_at=registered_at,
                    signup_day=signup_day,
                    country=country,
                    utc_offset=offset,
                    client=_weighted(rng, clients),
                    plan="pro" if rng.random() < pro_share else "free",
                    kind=kind,
                    activity={"heavy": 0.85, "power": 0.55}.get(kind) or rng.betavariate(1.3, 4.0),
                    calls_per_day={"heavy": 14.0, "power": 5.0}.get(kind) or 1.0 + rng.expovariate(1 / 1.5),
                    last_day=last_day,
                    login_every=rng.randint(6, 30),
                    first_top_up=Decimal(rng.choice(TOP_UPS)) if rng.random() < 0.85 else None,
                )
            )
        self.people.sort(key=lambda p: p.registered_at)
        for number, person in enumerate(self.people, start=first_number):
            person.n = number
            person.ip = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        if self.people and first_number == 1:
            first = self.people[0]  # the demo login `make run` prints: a paying, loyal, ordinary user
            first.protected, first.plan, first.kind, first.last_day = True, "pro", "regular", None
            first.activity, first.calls_per_day = max(first.activity, 0.6), 4.0
            first.first_top_up = first.first_top_up or Decimal(TOP_UPS[0])
        for _ in range(max(1, self.days // 30) if self.days >= 7 else 0):  # provider incidents
            start = self._day_start(rng.randrange(self.days)) + timedelta(hours=rng.randrange(24))
            self.incidents.append((start, start + timedelta(hours=rng.uniform(1, 3))))
        n = self.users_count
        self.budget = {
            "upgrade": max(1, round(n * 0.01)) if n >= 10 else 0,
            "downgrade": max(1, round(n * 0.004)) if n >= 20 else 0,
            "block": max(1, round(n * 0.004)) if n >= 20 else 0,
            "unblock": 1 if n >= 20 else 0,
        }
        # What the progress bar measures: the calls to expect each day (they grow with the users).
        work = [0.0] * self.days
        for person in self.people:
            end = self.days if person.last_day is None else min(self.days, person.last_day + 1)
            calls = min(person.calls_per_day, 4.0) if person.plan == "free" else person.calls_per_day
            for day in range(person.signup_day, end):
                work[day] += 1 + person.activity * calls
        if not any(work):  # nobody to simulate: the days themselves are the work
            work = [1.0] * self.days
        total, done = sum(work), 0.0
        for day_work in work:
            done += day_work
            self.expected_done.append(done / total)

    # ------------------------------------------------------------------ running it

    async def run(self, progress: Progress | None) -> dict[str, int]:
        async with self.db.sessionmaker() as session:
            demo_users = select(func.count()).select_from(Account).where(Account.email.endswith(DEMO_DOMAIN))
            first_number = 1 + int(await session.scalar(demo_users) or 0)
        self._draw_people(first_number)
        self.admin = await ensure_demo_admin(self.db, self.settings, self._day_start(0) - timedelta(hours=12))
        try:
            for day_index in range(self.days):
                await self._load_catalogue()
                await self._admin_actions(day_index)
                await self._two_at_a_time(
                    [self._register(p) for p in self.people if p.signup_day == day_index]
                )
                signing_in: list[Coroutine] = []
                for person in self.people:
                    if person.account is not None and person.signup_day <= day_index:
                        await self._user_day(person, day_index, signing_in)
                await self._two_at_a_time(signing_in)
                if progress:
                    counts = {**self.stats, "day": day_index + 1, "days": self.days}
                    progress(round(1000 * self.expected_done[day_index]), 1000, counts)
        finally:
            await self.gateway.aclose()
        async with self.db.sessionmaker() as session:
            self.stats["events"] = int(
                await session.scalar(select(func.count()).select_from(UsageEvent)) or 0
            )
        return self.stats

    async def _load_catalogue(self) -> None:
        """The catalogue as the gateway sees it (a cached snapshot): plans, roles, and the models each plan
        lists that the offline mock serves (demo data never calls a paid provider)."""
        async with self.db.sessionmaker() as session:
            catalogue = await self.gateway.catalogue.get(session)
        if catalogue is self.catalogue:
            return
        self.catalogue = catalogue
        self.models = {}
        for code, plan in catalogue.plans.items():
            listed = [m for m in catalogue.listed_for(plan.tiers) if _mock_only(m)]
            self.models[code] = (
                [m.id for m in listed if m.tier != "paid"],
                [m.id for m in listed if m.tier == "paid"],
            )

    def _ctx(self, person: DemoUser, client: str | None = None) -> RequestContext:
        client = client or person.client
        return RequestContext(
            country=person.country, client=client, ip=person.ip, user_agent=USER_AGENTS.get(client)
        )

    async def _two_at_a_time(self, work: list[Coroutine]) -> None:
        """Sign-ups or sign-ins, two at a time, so that their password hashing (argon2, ~30 ms of CPU, in
        a thread) overlaps. Not alongside the calls: on SQLite they would queue for the write lock."""

        async def limited(job: Coroutine) -> None:
            async with self.hashing:
                await job

        results = await asyncio.gather(*(limited(job) for job in work), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _register(self, person: DemoUser) -> None:
        ctx = self._ctx(person)
        plan = person.plan if person.plan in self.models else None
        async with self.db.sessionmaker() as session:
            account = await auth.register(
                session,
                self.settings,
                email=DEMO_USER_EMAIL.format(n=person.n),
                password=DEMO_USER_PASSWORD,
                country=person.country,
                ctx=ctx,
                at=person.registered_at,
                verified=True,
                plan=plan,
            )
            self.stats["users"] += 1
            if account.plan_code != "free" and person.first_top_up:
                await self._top_up(session, account, person.registered_at + timedelta(seconds=40), ctx)
        person.account = account
        if account.plan_code != "free":
            person.next_top_up_day = person.signup_day + 30

    async def _top_up(
        self, session, account: Account, at: datetime, ctx: RequestContext, amount: Decimal | None = None
    ) -> None:
        rate = self.catalogue.credit_rate if self.catalogue else None
        await billing.top_up(
            session,
            self.settings,
            account,
            amount=amount or Decimal(TOP_UPS[1]),
            currency=rate.currency if rate else "USD",
            ctx=ctx,
            at=at,
        )
        self.stats["top_ups"] += 1

    async def _login(self, person: DemoUser, at: datetime, mistyped: bool) -> None:
        ctx = self._ctx(person)
        async with self.db.sessionmaker() as session:
            attempts = [(DEMO_USER_PASSWORD[:-1], at - timedelta(seconds=20))] if mistyped else []
            for password, moment in [*attempts, (DEMO_USER_PASSWORD, at)]:
                try:
                    await auth.login(
                        session, self.settings, email=person.account.email, password=password, otp=None,
                        ctx=ctx, at=moment,
                    )  # fmt: skip
                    self.stats["logins"] += 1
                except AppError:  # the wrong password, or a blocked account
                    self.stats["failed_logins"] += 1

    def _active_today(self, person: DemoUser, day_index: int) -> bool:
        if day_index == person.signup_day:
            chance = 1.0 if person.protected or person.kind != "regular" else 0.85
        elif person.last_day is not None and day_index > person.last_day:
            chance = 0.0
        else:
            weekday = (self.first_day + timedelta(days=day_index)).weekday()
            novelty = 1.4 if day_index - person.signup_day < 7 else 1.0
            chance = min(0.95, person.activity * WEEKDAY_FACTOR[weekday] * novelty)
        return self.rng.random() < chance

    async def _user_day(self, person: DemoUser, day_index: int, signing_in: list[Coroutine]) -> None:
        rng = self.rng
        if person.blocked:
            if not person.block_login_tried and rng.random() < 0.5:
                person.block_login_tried = True  # they find out: the sign-in is refused
                at = self._moment(day_index, person.utc_offset)
                if person.not_before < at < self.now:
                    signing_in.append(self._login(person, at, mistyped=False))
            return
        if not self._active_today(person, day_index):
            return
        if person.kind == "heavy":
            calls = max(1, int(rng.gammavariate(2.0, person.calls_per_day / 2)))
        else:
            calls = 1 + int(rng.expovariate(1 / max(0.2, person.calls_per_day - 1)))
        sittings = min(calls, 1 + int(rng.expovariate(1 / (1.5 if person.kind == "heavy" else 0.5))))
        starts = sorted(self._moment(day_index, person.utc_offset) for _ in range(sittings))
        if day_index == person.signup_day:  # the first visit follows the sign-up
            starts[0] = person.registered_at + timedelta(seconds=rng.randrange(60, 600))
            starts.sort()
        split = sorted(rng.randrange(calls + 1) for _ in range(sittings - 1))
        counts = [b - a for a, b in zip([0, *split], [*split, calls], strict=True)]
        earliest = max(person.registered_at, person.not_before or person.registered_at)
        visits = [
            (s, c)
            for s, c in zip(starts, counts, strict=True)
            if c and earliest + timedelta(seconds=60) < s < self.now
        ]
        if not visits:
            return
        first = visits[0][0]
        if person.last_login_day is None or day_index - person.last_login_day >= person.login_every:
            person.last_login_day = day_index
            mistyped = rng.random() < 0.03
            signing_in.append(self._login(person, first - timedelta(seconds=30), mistyped))
        async with self.db.sessionmaker() as session:  # one session for the person's day
            if person.next_top_up_day is not None and day_index >= person.next_top_up_day:
                if rng.random() < 0.7:
                    amount = Decimal(rng.choice(TOP_UPS))
                    await self._top_up(
                        session, person.account, first - timedelta(seconds=10), self._ctx(person), amount
                    )
                person.next_top_up_day = day_index + rng.randint(25, 35)
            for start, count in visits:
                await self._visit(session, person, start, count)

    # ------------------------------------------------------------------ chats and calls

    def _pick_role(self) -> str | None:
        roles = self.catalogue.roles if self.catalogue else {}
        pairs = [(r, w) for r, w in ROLE_WEIGHTS.items() if r is None or r in roles]
        pairs += [(r, 5) for r in sorted(roles) if r not in ROLE_WEIGHTS]
        return _weighted(self.rng, pairs)

    def _pick_model(self, person: DemoUser, role: str | None) -> str | None:
        """A model the person's plan lists: paying users mostly take a paid one; None lets the role's
        default model answer (when the plan may call it)."""
        free, paid = self.models.get(person.account.plan_code, ([], []))
        rng = self.rng
        wants_paid = bool(paid) and not person.prefers_free and rng.random() < 0.65
        pool = paid if wants_paid else free or paid
        if role is not None and self.catalogue is not None:
            if self.catalogue.roles[role].default_model in pool and rng.random() < 0.5:
                return None
        return rng.choice(pool) if pool else None

    def _usable(self, person: DemoUser, chat: DemoChat) -> bool:
        """Whether the chat's role and model are still callable on the person's plan (the plan or the
        catalogue may have changed since the chat began)."""
        roles = self.catalogue.roles if self.catalogue else {}
        if chat.role is not None and chat.role not in roles:
            return False
        free, paid = self.models.get(person.account.plan_code, ([], []))
        model = chat.model or (roles[chat.role].default_model if chat.role else None)
        return model in free or model in paid

    def _new_chat(self, person: DemoUser) -> DemoChat:
        role = self._pick_role()
        chat_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return DemoChat(chat_id, role, self._pick_model(person, role))

    async def _visit(self, session, person: DemoUser, start: datetime, count: int) -> None:
        """A few calls a minute or two apart, in one chat or a few (raw API calls: mostly in none)."""
        rng = self.rng
        client = person.client if rng.random() < 0.85 else _weighted(rng, CLIENTS)
        ctx = self._ctx(person, client)
        chatless = client == "api" and rng.random() < 0.8
        limit = self._plan_limit(person, "max_messages_per_chat")
        chat: DemoChat | None = None
        if not chatless and person.chats and rng.random() < 0.45:  # back to a recent chat
            recent = [c for c in person.chats[-3:] if limit is None or c.messages + 2 <= limit]
            chat = rng.choice(recent) if recent else None
        at = start
        for call in range(count):
            if at >= self.now:
                return
            if chatless:
                target, chat = self._new_chat(person), None
            else:
                if chat is None or (call and rng.random() < 0.12) or (limit and chat.messages + 2 > limit):
                    chat = self._new_chat(person)
                target = chat
            if not self._usable(person, target):
                role = target.role if self.catalogue and target.role in self.catalogue.roles else None
                target.role, target.model = role, self._pick_model(person, role)
            if target.messages:
                text = rng.choice(FOLLOW_UPS)
            else:
                text = rng.choice(OPENERS[target.role if target.role in OPENERS else None])
            outcome = await self._call(session, person, target, text, chat, ctx, at)
            if outcome == "quota" and (person.kind != "heavy" or person.account.plan_code != "free"):
                if rng.random() < 0.75:
                    return  # most people give up for the day; a script keeps trying
            if outcome == "failed" and rng.random() < 0.6:  # try again a little later
                at += timedelta(seconds=rng.randrange(5, 40))
                if at < self.now:
                    await self._call(session, person, target, text, chat, ctx, at)
            at += timedelta(seconds=rng.randrange(20, 240))

    def _plan_limit(self, person: DemoUser, name: str) -> int | None:
        plan = self.catalogue.plan(person.account.plan_code) if self.catalogue else None
        return getattr(plan, name) if plan else None

    def _fault(self, at: datetime) -> str | None:
        in_incident = any(start <= at < end for start, end in self.incidents)
        return "fail" if self.rng.random() < (0.35 if in_incident else 0.012) else None

    async def _call(
        self,
        session,
        person: DemoUser,
        target: DemoChat,
        text: str,
        chat: DemoChat | None,
        ctx: RequestContext,
        at: datetime,
    ) -> str:
        """One completion through the gateway's domain code, as the API makes it; what became of it."""
        rng = self.rng
        messages = [*target.history[-6:], ChatMessage("user", text)]
        for attempt in range(2):
            if target.model is None and target.role is None:
                return "no_model"
            self.stats["calls"] += 1
            try:
                result = await gateway_service.complete(
                    session,
                    self.gateway,
                    person.account,
                    model=target.model,
                    messages=messages,
                    max_tokens=rng.choice((None, None, None, 256, 512)),
                    temperature=None,
                    role=target.role,
                    fault=self._fault(at),
                    chat_id=chat.id if chat else None,
                    ctx=ctx,
                    at=at,
                )
            except ChatLimitReached:
                # The plan keeps only so many chats: the person deletes the oldest, then sends again.
                self.stats["chat_limit_refusals"] += 1
                for old in list(person.chats[: rng.randint(1, 3)]):
                    if await chats.delete_own(session, person.account.id, old.id):
                        self.stats["deleted_chats"] += 1
                    await session.commit()
                    person.chats.remove(old)
                at += timedelta(seconds=rng.randrange(30, 90))
                if at >= self.now:
                    return "chat_limit"
                continue
            except ChatMessageLimitReached:
                self.stats["chat_limit_refusals"] += 1
                target.messages = 10**6  # full: the next message starts a new chat
                return "chat_limit"
            except QuotaExceeded:
                self.stats["quota_refusals"] += 1
                person.refusals += 1
                return "quota"
            except InsufficientBalance:
                self.stats["insufficient_balance"] += 1
                if attempt == 0 and rng.random() < 0.75:  # they top up and send it again
                    at += timedelta(seconds=rng.randrange(60, 300))
                    if at < self.now:
                        await self._top_up(session, person.account, at - timedelta(seconds=20), ctx)
                        continue
                person.prefers_free = True
                return "insufficient"
            except ProviderUnavailable:
                self.stats["failed_calls"] += 1
                return "failed"
            except REJECTED:
                return "rejected"
            if chat is not None:
                if chat.messages == 0:
                    self.stats["chats"] += 1
                    person.chats.append(chat)
                chat.messages += 2
                chat.history = [*messages, ChatMessage("assistant", result.completion.content)][-6:]
                self.stats["messages"] += 2
            return "ok"
        return "chat_limit"

    # ------------------------------------------------------------------ what the demo admin does

    async def _admin_actions(self, day_index: int) -> None:
        """Now and then a block, an unblock or a plan change, by the demo admin through the admin domain
        code, in the morning (UTC); the person's own activity that day comes after it."""
        if day_index == 0 or self.admin is None:
            return
        rng = self.rng
        at = self._day_start(day_index) + timedelta(hours=7, seconds=rng.randrange(3 * 3600))
        if at >= self.now:
            return
        days_left = max(1, self.days - day_index)
        known = [p for p in self.people if p.account is not None and not p.blocked and not p.protected]

        def pick(action: str, candidates: list[DemoUser]) -> DemoUser | None:
            if not candidates or self.budget[action] <= 0:
                return None
            if rng.random() >= min(1.0, self.budget[action] * 3 / days_left):
                return None
            self.budget[action] -= 1
            return rng.choice(candidates)

        free = [p for p in known if p.account.plan_code == "free"]
        abusers = [p for p in free if p.kind == "heavy" and p.refusals >= 6] or [
            p for p in free if p.refusals >= 8
        ]
        if person := pick("block", abusers):
            await self._set_blocked(person, True, "automated traffic from a free account", at)
            return
        blocked = [p for p in self.people if p.blocked]
        if blocked and self.budget["unblock"] > 0 and rng.random() < 0.3:
            self.budget["unblock"] -= 1
            await self._set_blocked(blocked[0], False, "appeal accepted: it was a misconfigured script", at)
            return
        if person := pick("upgrade", [p for p in free if p.refusals >= 2 and p.kind != "heavy"]):
            await self._change_plan(person, "pro", "upgraded after a sales call", at)
            person.next_top_up_day = day_index  # paid for at their next visit
            return
        paying = [p for p in known if p.account.plan_code == "pro" and day_index - p.signup_day >= 7]
        if person := pick("downgrade", paying):
            await self._change_plan(person, "free", "downgraded at the user's request", at)
            person.next_top_up_day = None

    async def _set_blocked(self, person: DemoUser, blocked: bool, reason: str, at: datetime) -> None:
        async with self.db.sessionmaker() as session:
            person.account = await users_admin.set_blocked(
                session, self.admin, person.account.id, blocked=blocked, reason=reason, at=at,
                ctx=self.admin_ctx, context=AuditContext(ip=self.admin_ctx.ip),
            )  # fmt: skip
        person.blocked, person.block_login_tried, person.not_before = blocked, False, at
        self.stats["blocks" if blocked else "unblocks"] += 1

    async def _change_plan(self, person: DemoUser, plan: str, reason: str, at: datetime) -> None:
        if plan not in self.models:
            return
        async with self.db.sessionmaker() as session:
            person.account = await users_admin.change_plan(
                session, self.admin, person.account.id, plan=plan, reason=reason, at=at,
                ctx=self.admin_ctx, context=AuditContext(ip=self.admin_ctx.ip),
            )  # fmt: skip
        person.not_before, person.prefers_free = at, False
        self.stats["plan_changes"] += 1


async def generate(
    db: Database,
    settings: Settings,
    *,
    users_count: int,
    days: int,
    seed: int = 7,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """`users_count` people signing up over the `days` days that end `now` (default: this moment), and
    all they do. Returns counts of what was made, `events` (the usage events now in the database) and
    `seconds` (how long it took). `progress(done, total, counts)` is called after each day, with the
    share of the expected work done in thousandths and the counts so far (with `day` and `days`)."""
    if not settings.test_top_ups:
        raise DemoRefused("demo data needs test top-ups (AIADMIN_TEST_TOP_UPS): paying demo users top up")
    run = DemoRun(
        db, settings, users_count=users_count, days=max(1, days), seed=seed, now=now or datetime.now(UTC)
    )
    gateway_log = logging.getLogger("aiadmin.gateway")
    level = gateway_log.level
    gateway_log.setLevel(logging.ERROR)  # the demo's failed calls are on purpose: no warning for each
    started = clock.perf_counter()
    try:
        stats = await run.run(progress)
    finally:
        gateway_log.setLevel(level)
    stats["seconds"] = round(clock.perf_counter() - started)
    return stats
