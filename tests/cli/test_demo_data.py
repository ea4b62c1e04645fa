"""`aiadmin demo-data`: weeks of realistic activity, made by the same domain code as the API.

The content tests share one generated database of each kind (30 users over 20 days, seed 6), made up to
a fixed moment so that the data are the same whatever the date (a seed gives the same data for the same
moment); the command itself is run on today's clock.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from aiadmin.cli import main
from aiadmin.demo import DEMO_ADMIN_EMAIL, generate
from api.accounts.models import Account
from api.audit.models import AuditEntry
from api.billing.models import LedgerEntry
from api.chats.models import Chat, Message
from api.core.db import Database, make_sync_engine
from api.core.settings import Settings
from api.events.models import UsageEvent
from tests.conftest import TEST_SECRET, _pg_admin, _pg_url
from tests.support.api import event_counts

USERS, DAYS, SEED = 30, 20, 4  # a seed whose days hold every case the tests read (paid failures among them)
NOW = datetime(2026, 6, 30, 15, 0, tzinfo=UTC)  # mid-afternoon: the last day is only partly over


@dataclass
class Demo:
    settings: Settings
    stats: dict[str, int]
    progress: list[tuple[int, int, dict[str, int]]] = field(default_factory=list)

    def rows(self, statement) -> list:
        engine = make_sync_engine(self.settings)
        try:
            with engine.connect() as conn:
                return list(conn.execute(statement).all())
        finally:
            engine.dispose()

    def events(self, type_: str) -> list:
        return self.rows(select(UsageEvent).where(UsageEvent.type == type_))


def _settings(database_url: str, data_dir) -> Settings:
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=data_dir,
        database_url=database_url,
        background_jobs=False,
    )


def _generate(settings: Settings, *, users: int, days: int, seed: int, progress=None) -> dict[str, int]:
    async def run() -> dict[str, int]:
        db = Database(settings)
        try:
            return await generate(
                db, settings, users_count=users, days=days, seed=seed, now=NOW, progress=progress
            )
        finally:
            await db.dispose()

    return asyncio.run(run())


def _sqlite_copy(template, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


pytestmark = pytest.mark.xdist_group("demo-data")  # one worker makes the module's demo data, once


# Once, on SQLite (`make run`'s database): the demo drives the API's services, whose behaviour on each
# database is tested with the services themselves (tests/api).
@pytest.fixture(scope="module", params=["sqlite"])
def demo(request, tmp_path_factory) -> Iterator[Demo]:
    """Demo data generated once; the tests only read it."""
    tmp_path = tmp_path_factory.mktemp("demo")
    pg_name = None
    if request.param == "sqlite":
        url = _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path, "aiadmin")
    else:
        pg_name = f"aiadmin_test_{uuid.uuid4().hex[:10]}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}" TEMPLATE "{request.getfixturevalue("pg_template")}"')
        url = _pg_url(pg_name)
    settings = _settings(url, tmp_path / "var")
    progress: list[tuple[int, int, dict[str, int]]] = []
    stats = _generate(
        settings, users=USERS, days=DAYS, seed=SEED, progress=lambda *shown: progress.append(shown)
    )
    yield Demo(settings, stats, progress)
    if pg_name:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def test_demo_users_come_from_many_countries_and_keep_signing_up_over_the_whole_period(demo):
    users = demo.rows(select(Account.country, Account.created_at).where(Account.role == "user"))
    assert len(users) == USERS
    assert len({country for country, _ in users}) >= 8
    first_day = NOW.date() - timedelta(days=DAYS - 1)
    days = [created.astimezone(UTC).date() for _, created in users]
    assert min(days) >= first_day and max(days) <= NOW.date()
    assert len(set(days)) >= 8  # not all on the first day
    middle = first_day + timedelta(days=DAYS // 2)
    assert sum(d >= middle for d in days) > sum(d < middle for d in days)  # the service grows


def test_demo_chats_are_conversations_of_several_messages(demo):
    chats = demo.rows(select(Chat.id, Chat.message_count))
    assert len(chats) >= 10
    counts = sorted(count for _, count in chats)
    assert counts[-1] >= 10 and sum(counts) / len(counts) > 3
    # Every message a chat counts is stored (a failed call gave its slots back), asked and answered.
    roles = Counter(role for (role,) in demo.rows(select(Message.role)))
    assert roles["user"] == roles["assistant"] == sum(counts) // 2
    assert len(demo.events("chat.created")) == len(chats)


def test_demo_calls_use_several_roles_models_and_clients_and_paid_models_only_on_paid_plans(demo):
    calls = demo.events("llm.call_succeeded")
    assert {c.role_id for c in calls} >= {None, "paraphrase", "fix-grammar", "prompt-writer"}
    assert {c.model_id for c in calls} == {"mock-small", "mock-large"}
    assert {c.client for c in calls} >= {"web", "telegram"}
    assert {c.plan for c in calls if c.model_id == "mock-large"} == {"pro"}
    assert all(c.cost_usd > 0 and c.country for c in calls)


def test_failed_demo_calls_are_refunded_so_every_balance_is_what_its_ledger_adds_up_to(demo):
    failed = demo.events("llm.call_failed")
    paid_failures = [e for e in failed if e.model_id == "mock-large"]
    assert failed and paid_failures
    refunds = demo.events("balance.refunded")
    assert Counter(e.user_id for e in refunds) == Counter(e.user_id for e in paid_failures)
    ledger = dict(
        demo.rows(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.account_id)
        )
    )
    balances = demo.rows(select(Account.id, Account.balance))
    assert any(balance > 0 for _, balance in balances)
    for account_id, balance in balances:
        assert balance == ledger.get(account_id, Decimal(0)) and balance >= 0


def test_free_users_are_refused_past_three_requests_a_day(demo):
    refused = [e for e in demo.events("quota.exceeded") if e.error_code == "quota_exceeded"]
    assert refused and {e.plan for e in refused} == {"free"}
    per_day = Counter(
        (e.user_id, e.occurred_at.astimezone(UTC).date())
        for e in demo.events("llm.call_succeeded")
        if e.plan == "free"
    )
    assert per_day and max(per_day.values()) == 3


def test_no_demo_event_happens_after_now_and_today_is_only_partly_over(demo):
    moments = [at.astimezone(UTC) for (at,) in demo.rows(select(UsageEvent.occurred_at))]
    assert max(moments) <= NOW
    assert max(moments) >= NOW - timedelta(hours=12)  # today has activity, up to the present


def test_the_demo_admin_changes_plans_and_blocks_through_the_audited_admin_actions(demo):
    (admin_id,) = demo.rows(select(Account.id).where(Account.email == DEMO_ADMIN_EMAIL))[0]
    changes = demo.events("plan.changed") + demo.events("user.blocked")
    assert {e.type for e in changes} == {"plan.changed", "user.blocked"}
    assert all(e.properties["by"] == str(admin_id) for e in changes)
    audited = Counter(action for (action,) in demo.rows(select(AuditEntry.action)))
    assert audited["user.plan_change"] == len(demo.events("plan.changed"))
    assert audited["user.block"] == len(demo.events("user.blocked"))
    # A blocked user who tries to sign in is refused.
    assert any(e.error_code == "account_blocked" for e in demo.events("user.login_failed"))


def test_demo_progress_is_reported_day_by_day_with_what_was_made_so_far(demo):
    assert [shown[2]["day"] for shown in demo.progress] == list(range(1, DAYS + 1))
    done = [shown[0] for shown in demo.progress]
    assert done == sorted(done) and done[-1] == demo.progress[-1][1]
    last = demo.progress[-1][2]
    assert last["users"] == USERS and last["calls"] == demo.stats["calls"] > 0
    assert demo.stats["events"] == sum(event_counts(demo.settings).values())


def test_the_same_seed_makes_the_same_data_and_another_seed_other_data(sqlite_template, tmp_path):
    def made(seed: int, name: str) -> Counter:
        settings = _settings(_sqlite_copy(sqlite_template, tmp_path, name), tmp_path / name)
        _generate(settings, users=20, days=10, seed=seed)
        engine = make_sync_engine(settings)
        try:
            with engine.connect() as conn:
                countries = Counter(conn.execute(select(Account.country)).scalars())
                messages = conn.execute(select(func.count()).select_from(Message)).scalar_one()
        finally:
            engine.dispose()
        return (
            event_counts(settings)
            + Counter({f"country {c}": n for c, n in countries.items()})
            + Counter({"messages": messages})
        )

    first = made(11, "a")
    assert first == made(11, "b")
    assert first != made(12, "c")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_data_command_shows_a_progress_bar_and_a_summary(env_settings, capsys):
    started = datetime.now(UTC)
    assert main(["demo-data", "--users", "12", "--days", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "day 5/5" in out and "12 users" in out and " calls (" in out
    assert "demo data: 12 users over 5 days:" in out and "usage events in" in out
    latest = max(e for e in _occurred(env_settings))
    assert latest <= datetime.now(UTC) and latest >= started - timedelta(days=1)


def _occurred(settings: Settings) -> list[datetime]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return [at.astimezone(UTC) for at in conn.execute(select(UsageEvent.occurred_at)).scalars()]
    finally:
        engine.dispose()
