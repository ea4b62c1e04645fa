"""Demo activity through the same domain code the API runs, back-dated over a few days."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from api.auth import service as auth
from api.billing import service as billing
from api.billing.service import InsufficientBalance
from api.core.db import Database
from api.core.errors import QuotaExceeded
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.gateway import service as gateway_service
from api.gateway.providers.base import ChatMessage
from api.gateway.service import Gateway
from api.users import repository as users
from api.users import service as users_service
from api.users.models import Account

DEMO_ADMIN_EMAIL = "admin@aiadmin.example.com"
DEMO_ADMIN_PASSWORD = "admin-demo-pass"  # noqa: S105 (printed by `make run`; local demo only)
DEMO_USER_PASSWORD = "user-demo-pass"  # noqa: S105
DEMO_USER_EMAIL = "user{n}@demo.aiadmin.example.com"
COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "RU", "JP", "ES", "CA")
CLIENTS = ("web", "web", "telegram", "api")
PROMPTS = (
    "Paraphrase: the meeting moved to Thursday.",
    "Fix the grammar: me and him goes to school yesterday.",
    "Write a prompt for a Python code reviewer.",
    "Summarise the plot of Hamlet in two sentences.",
    "Translate 'good morning' into French.",
)


async def account_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def ensure_demo_admin(db: Database, settings: Settings) -> None:
    async with db.sessionmaker() as session:
        if await users.get_account_by_email(session, DEMO_ADMIN_EMAIL) is None:
            await users_service.create_staff(
                session,
                settings,
                email=DEMO_ADMIN_EMAIL,
                password=DEMO_ADMIN_PASSWORD,
                role="admin",
                at=datetime.now(UTC),
            )


async def generate(
    db: Database,
    settings: Settings,
    *,
    users_count: int,
    days: int,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Register users over the first days, then log them in and chat, day by day, up to today."""
    rng = random.Random(seed)
    gateway = Gateway(settings)
    now = datetime.now(UTC)
    today = now.date()
    first_day = today - timedelta(days=days - 1)

    def past(at: datetime) -> datetime:  # today's activity happens before now, never later today
        return min(at, now - timedelta(seconds=1))

    accounts: list[tuple[Account, RequestContext]] = []
    stats = {"users": 0, "logins": 0, "completions": 0, "refusals": 0}
    for day_index in range(days):
        day = first_day + timedelta(days=day_index)
        day_start = datetime.combine(day, time.min, UTC)
        # Everyone has registered by the middle of the period; registrations come in early.
        due = users_count if day_index >= days // 2 else users_count * (day_index + 1) // max(1, days // 2)
        while len(accounts) < due:
            n = len(accounts) + 1
            ctx = RequestContext(country=rng.choice(COUNTRIES), client=rng.choice(CLIENTS))
            at = past(day_start + timedelta(seconds=rng.randrange(0, 6 * 3600)))
            async with db.sessionmaker() as session:
                account = await auth.register(
                    session,
                    settings,
                    email=DEMO_USER_EMAIL.format(n=n),
                    password=DEMO_USER_PASSWORD,
                    country=ctx.country,
                    ctx=ctx,
                    at=at,
                    verified=True,
                    plan="pro" if rng.random() < 0.25 else "free",
                )
                if account.plan_code == "pro":  # paying users: credits for the paid models
                    await billing.top_up(
                        session,
                        settings,
                        account,
                        amount=Decimal(rng.choice((5, 10, 20))),
                        currency="USD",
                        ctx=ctx,
                        at=at,
                    )
            accounts.append((account, ctx))
            stats["users"] += 1
        for account, ctx in rng.sample(accounts, k=max(1, int(len(accounts) * rng.uniform(0.3, 0.7)))):
            at = past(day_start + timedelta(seconds=rng.randrange(6 * 3600, 20 * 3600)))
            async with db.sessionmaker() as session:
                await auth.login(
                    session,
                    settings,
                    email=account.email,
                    password=DEMO_USER_PASSWORD,
                    otp=None,
                    ctx=ctx,
                    at=at,
                )
            stats["logins"] += 1
            for call in range(rng.choice((1, 2, 3, 3, 4))):
                async with db.sessionmaker() as session:
                    models = [m.id for m in await gateway_service.models_for(session, gateway, account)]
                    try:
                        await gateway_service.complete(
                            session,
                            gateway,
                            account,
                            model=rng.choice(models),
                            messages=[ChatMessage("user", rng.choice(PROMPTS))],
                            max_tokens=None,
                            temperature=None,
                            ctx=ctx,
                            at=past(at + timedelta(minutes=call + 1)),
                        )
                        stats["completions"] += 1
                    except (QuotaExceeded, InsufficientBalance):
                        stats["refusals"] += 1
        if progress:
            progress(day_index + 1, days)
    await gateway.aclose()
    return stats
