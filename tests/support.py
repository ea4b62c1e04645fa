"""Helpers shared by the suites: a live uvicorn server, sign-up shortcuts, event counts."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from api.core.db import make_sync_engine
from api.core.settings import Settings
from api.events.models import UsageEvent
from api.mail.models import EmailMessage

PASSWORD = "correct-horse-battery"


class Clock:
    """A clock the test moves: what the API's `utcnow()` reads while the `clock` fixture is in use.

    It starts at noon UTC of a fixed day in the past (after the seeded prices and roles, before any real
    today, as the JWT library checks a token's issue time against the real clock), and moves only when
    told: no test waits for a real second, and none meets a real UTC midnight by chance.
    """

    START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __init__(self, now: datetime = START) -> None:
        self._now = now

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move on by `delta` or `timedelta(**parts)`; the new now."""
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now

    def set(self, now: datetime) -> datetime:
        assert now.tzinfo is not None, "an aware UTC datetime"
        self._now = now
        return self._now

    def next_midnight(self) -> datetime:
        """The next UTC midnight after now."""
        return datetime.combine(self._now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


class LiveServer:
    """The app served by a real uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", limit_concurrency=1000)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


def register(client: httpx.Client, email: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def mails(settings: Settings, to: str | None = None, kind: str | None = None) -> list[EmailMessage]:
    engine = make_sync_engine(settings)
    query = select(EmailMessage).order_by(EmailMessage.id)
    if to:
        query = query.where(EmailMessage.to_address == to)
    if kind:
        query = query.where(EmailMessage.kind == kind)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def link_token(settings: Settings, to: str, kind: str) -> str:
    """The token of the newest link of this kind mailed to `to` (read from the email outbox)."""
    found = mails(settings, to, kind)
    assert found, f"no {kind} mail to {to}"
    match = re.search(r"token=([A-Za-z0-9_-]+)", found[-1].body)
    assert match, found[-1].body
    return match.group(1)


def confirm(client: httpx.Client, settings: Settings, email: str) -> None:
    token = link_token(settings, email, "confirm_email")
    response = client.get("/api/v1/auth/confirm-email", params={"token": token})
    assert response.status_code == 200, response.text


def tokens(client: httpx.Client, email: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    return tokens(client, email, password)["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(client: httpx.Client, email: str, settings: Settings | None = None, **extra) -> dict[str, str]:
    """Register, confirm the email through the mailed link, log in: the new user's Authorization header."""
    settings = settings or client.app.state.settings
    register(client, email, **extra)
    confirm(client, settings, email)
    return bearer(login(client, email))


def event_counts(settings: Settings) -> Counter[str]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(UsageEvent.type, func.count()).group_by(UsageEvent.type)).all()
    finally:
        engine.dispose()
    return Counter({type_: count for type_, count in rows})


def completion_body(model: str = "mock-small", content: str = "Hello, how are you?") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def create_staff_account(settings: Settings, email: str, role: str) -> None:
    """A staff account made the way `aiadmin create-admin` makes one."""
    import asyncio

    from api.core.db import Database
    from api.core.types import utcnow
    from api.users.service import create_staff

    async def create() -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                await create_staff(session, settings, email=email, password=PASSWORD, role=role, at=utcnow())
        finally:
            await db.dispose()

    asyncio.run(create())


def db_execute(settings: Settings, *statements) -> None:
    """Change the database behind the API's back (an operator's edit, a clock moved, a corruption)."""
    engine = make_sync_engine(settings)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()


def events_of(settings: Settings, type_: str) -> list:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(select(UsageEvent).where(UsageEvent.type == type_).order_by(UsageEvent.id))
            )
    finally:
        engine.dispose()


def http_provider_row(
    settings: Settings, provider_id: str, url: str, *, priority: int, retries: int = 0, headers=None, key=None
):
    """An insert of an OpenAI-compatible provider (its key encrypted as the API stores it)."""
    from api.catalogue.models import Provider
    from api.core.crypto import Encryptor
    from api.core.types import utcnow

    return Provider.__table__.insert().values(
        id=provider_id,
        kind="openai_compatible",
        display_name=provider_id,
        base_url=url,
        api_key_encrypted=Encryptor(settings).encrypt(key) if key else None,
        priority=priority,
        timeout_seconds=5.0,
        max_retries=retries,
        enabled=True,
        extra_headers=headers or {},
        created_at=utcnow(),
    )


def wait_for_events(settings: Settings, type_: str, count: int = 1, timeout: float = 30.0) -> list:
    """The events of a type once `count` exist: for what the server settles after answering."""
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(settings, type_)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def staff_headers(client: httpx.Client, settings: Settings, role: str) -> dict[str, str]:
    """A signed-in staff member `<role>@example.com`; an admin enrols TOTP first, as it must."""
    import pyotp

    from api.core.types import utcnow

    email = f"{role}@example.com"
    create_staff_account(settings, email, role)
    headers = bearer(tokens(client, email)["access_token"])
    if role == "admin":
        totp = pyotp.TOTP(client.post("/api/v1/auth/2fa/setup", headers=headers).json()["secret"])
        code = totp.at(utcnow())  # the API's now (the `clock` fixture's, if a test holds it)
        assert client.post("/api/v1/auth/2fa/enable", headers=headers, json={"code": code}).status_code == 200
    return headers


def grant_credits(settings: Settings, email: str, credits) -> None:
    """Credits as an admin adjustment gives them: the balance and its ledger row together."""
    from sqlalchemy import update

    from api.accounts.models import Account
    from api.billing.models import LedgerEntry
    from api.core.types import utcnow

    engine = make_sync_engine(settings)
    try:
        with engine.begin() as conn:
            account_id = conn.scalar(select(Account.id).where(Account.email == email))
            conn.execute(update(Account).where(Account.id == account_id).values(balance=credits))
            conn.execute(
                LedgerEntry.__table__.insert().values(
                    account_id=account_id,
                    kind="adjustment",
                    amount=credits,
                    balance_after=credits,
                    created_at=utcnow(),
                    details={},
                )
            )
    finally:
        engine.dispose()


# --- The warehouse pipeline under faults (tests/reliability: a run killed at each stage, a full disk) ---

LLM_CALL_TYPES = ("llm.call_succeeded", "llm.call_failed")

_BULK_ACCOUNTS = """
INSERT INTO accounts (id, email, password_hash, role, plan_code, country, is_blocked, created_at,
                      email_verified_at, balance)
SELECT md5('bulk-user-' || u)::uuid, 'bulk-user-' || u || '@example.com', 'x', 'user',
       CASE WHEN u % 5 = 0 THEN 'pro' ELSE 'free' END, (ARRAY['US', 'DE', 'FR', 'JP', 'BR'])[1 + u % 5],
       false, now() - interval '40 days', now() - interval '40 days', 100
FROM generate_series(1, %(users)s::int) AS u
ON CONFLICT (id) DO NOTHING
"""

# Event g of a batch (salted, so that batches differ): a type by g mod 20 (55 % successful LLM calls), a
# user, an hour in the last 30 days (so that a new batch also lands on days already built).
_BULK_EVENTS = """
WITH draws AS (
    SELECT g, (1 + (g::bigint * 7919 + %(salt)s::int) %% %(users)s::int)::int AS u,
           ((g::bigint * 31 + %(salt)s::int) %% 20)::int AS kind
    FROM generate_series(1, %(events)s::int) AS g
),
shaped AS (
    SELECT draws.*,
           CASE WHEN kind < 11 THEN 'llm.call_succeeded' WHEN kind = 11 THEN 'llm.call_failed'
                WHEN kind < 17 THEN 'message.sent' WHEN kind = 17 THEN 'chat.created'
                WHEN kind = 18 THEN 'user.login_succeeded' ELSE 'quota.exceeded' END AS type,
           kind < 18 AS in_chat, kind < 12 AS is_call, 10 + g %% 500 AS tokens_in, 5 + g %% 300 AS tokens_out
    FROM draws
)
INSERT INTO usage_events (event_id, occurred_at, type, user_id, chat_id, model_id, provider, plan,
                          input_tokens, output_tokens, cost_usd, credits, latency_ms, status, error_code,
                          country, client, properties)
SELECT gen_random_uuid(),
       date_trunc('hour', now()) - ((g * 7 + %(salt)s::int) %% 720) * interval '1 hour'
           - (g %% 3600) * interval '1 second',
       type, md5('bulk-user-' || u)::uuid,
       CASE WHEN in_chat THEN md5('bulk-chat-' || u || '-' || g %% 7)::uuid END,
       CASE WHEN in_chat THEN (ARRAY['mock-small', 'mock-large'])[1 + g %% 2] END,
       CASE WHEN is_call THEN 'mock' END,
       CASE WHEN u %% 5 = 0 THEN 'pro' ELSE 'free' END,
       CASE WHEN is_call OR type = 'message.sent' THEN tokens_in END,
       CASE WHEN type = 'llm.call_succeeded' THEN tokens_out WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN round((tokens_in * 0.1 + tokens_out * 0.2) / 1e6, 8)
            WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN type = 'llm.call_succeeded' THEN round((tokens_in * 0.1 + tokens_out * 0.2) / 1e6 * 150, 6)
            WHEN type = 'llm.call_failed' THEN 0 END,
       CASE WHEN is_call THEN 100 + g %% 2000 END,
       CASE WHEN type IN ('llm.call_failed', 'quota.exceeded') THEN 'error' ELSE 'ok' END,
       CASE WHEN type = 'llm.call_failed' THEN 'provider_500'
            WHEN type = 'quota.exceeded' THEN 'quota_exceeded' END,
       (ARRAY['US', 'DE', 'FR', 'JP', 'BR'])[1 + u %% 5], 'web', '{}'::jsonb
FROM shaped
"""


def _libpq(settings: Settings) -> str:
    return make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def bulk_events(settings: Settings, events: int, *, users: int = 2_000, salt: int = 0) -> None:
    """`events` usage events of `users` accounts (made if missing), written by PostgreSQL itself (INSERT …
    SELECT … FROM generate_series, as bench/pipeline.py does): a million in seconds, no API calls."""
    import psycopg

    with psycopg.connect(_libpq(settings), autocommit=True) as conn:
        conn.execute(_BULK_ACCOUNTS.replace("%(users)s", str(int(users))))
        conn.execute(_BULK_EVENTS, {"events": events, "users": users, "salt": salt})


def change_plans(settings: Settings, every: int) -> int:
    """Move every `every`-th bulk account to the other plan (what the dimension snapshots record)."""
    import psycopg

    with psycopg.connect(_libpq(settings), autocommit=True) as conn:
        changed = conn.execute(
            "UPDATE accounts SET plan_code = CASE plan_code WHEN 'pro' THEN 'free' ELSE 'pro' END "
            "WHERE email LIKE 'bulk-user-%%' AND abs(hashtext(email)) %% %s = 0",
            [every],
        )
        return changed.rowcount


def oltp_figures(settings: Settings) -> dict:
    """The oracle, from the OLTP database (PostgreSQL): what the warehouse must hold, exactly."""
    import psycopg

    with psycopg.connect(_libpq(settings)) as conn:
        events, id_sum, distinct = conn.execute(
            "SELECT count(*), coalesce(sum(id), 0), count(DISTINCT event_id) FROM usage_events"
        ).fetchone()
        by_type = dict(conn.execute("SELECT type, count(*) FROM usage_events GROUP BY type").fetchall())
        calls = conn.execute(
            "SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(coalesce(input_tokens, 0)), "
            "sum(coalesce(output_tokens, 0)), sum(coalesce(cost_usd, 0)), sum(coalesce(credits, 0)) "
            "FROM usage_events WHERE type = ANY(%s) GROUP BY 1 ORDER BY 1",
            [list(LLM_CALL_TYPES)],
        ).fetchall()
        plans = dict(conn.execute("SELECT plan_code, count(*) FROM accounts GROUP BY 1").fetchall())
    return {
        "events": events,
        "id_sum": int(id_sum),
        "distinct_event_ids": distinct,
        "by_type": by_type,
        "calls_by_day": [tuple(row) for row in calls],
        "accounts_by_plan": plans,
    }


# Each mart that carries the call totals, summed to the UTC day: (day, calls, tokens in, out, cost, credits).
_MART_CALLS_BY_DAY = {
    "mart_usage_daily": "SELECT day, sum(calls), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.mart_usage_daily GROUP BY day ORDER BY day",
    "mart_geography_daily": "SELECT day, sum(calls), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.mart_geography_daily GROUP BY day ORDER BY day",
    "fct_llm_calls": "SELECT day, count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd), "
    "sum(credits) FROM marts.fct_llm_calls GROUP BY day ORDER BY day",
}


def mart_figures(path) -> dict:
    """What the marts of a warehouse file (working or serving copy) say, in the oracle's terms."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        figures = {
            mart: [tuple(row) for row in con.execute(sql).fetchall()]
            for mart, sql in _MART_CALLS_BY_DAY.items()
        }
        figures["fct_llm_calls_distinct"] = con.execute(
            "SELECT count(*) - count(DISTINCT event_id) FROM marts.fct_llm_calls"
        ).fetchone()[0]
        figures["completions"] = con.execute("SELECT sum(completions) FROM marts.fct_user_days").fetchone()[0]
        figures["published_at"] = (
            con.execute("SELECT max(published_at) FROM main._publication").fetchone()[0]
            if _has_table(con, "main", "_publication")
            else None
        )
    return figures


def _has_table(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def marts_match(marts: dict, oracle: dict) -> list[str]:
    """The differences between the marts and the oracle (empty: they agree exactly)."""
    problems = [
        f"{mart}: {marts[mart]!r} != OLTP {oracle['calls_by_day']!r}"[:500]
        for mart in _MART_CALLS_BY_DAY
        if marts[mart] != oracle["calls_by_day"]
    ]
    if marts["fct_llm_calls_distinct"]:
        problems.append(f"fct_llm_calls: {marts['fct_llm_calls_distinct']} duplicated events")
    if marts["completions"] != oracle["by_type"].get("llm.call_succeeded", 0):
        problems.append(f"fct_user_days completions {marts['completions']} != {oracle['by_type']}")
    return problems


def raw_figures(warehouse_path) -> dict:
    """The working warehouse's raw events and extract cursor, and its dimension snapshots' shape."""
    import duckdb

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        events, id_sum, distinct = con.execute(
            "SELECT count(*), coalesce(sum(id), 0), count(DISTINCT event_id) FROM raw.usage_events"
        ).fetchone()
        by_type = dict(con.execute("SELECT type, count(*) FROM raw.usage_events GROUP BY type").fetchall())
        cursor = con.execute("SELECT cursor FROM raw.extract_state WHERE source = 'usage_events'").fetchone()
        snapshots = {}
        if _has_table(con, "snapshots", "snap_accounts"):
            snapshots = {
                "versions": con.execute("SELECT count(*) FROM snapshots.snap_accounts").fetchone()[0],
                "current_by_plan": dict(
                    con.execute(
                        "SELECT plan_code, count(*) FROM snapshots.snap_accounts "
                        "WHERE dbt_valid_to IS NULL GROUP BY 1"
                    ).fetchall()
                ),
                "keys_with_two_current": con.execute(
                    "SELECT count(*) FROM (SELECT id FROM snapshots.snap_accounts WHERE dbt_valid_to IS NULL "
                    "GROUP BY id HAVING count(*) > 1)"
                ).fetchone()[0],
            }
    return {
        "events": events,
        "id_sum": int(id_sum),
        "distinct_event_ids": distinct,
        "by_type": by_type,
        "cursor": cursor[0] if cursor else None,
        "snapshots": snapshots,
    }


def raw_matches(raw: dict, oracle: dict) -> list[str]:
    """The differences between the raw events and the oracle (empty: every event once, none missing)."""
    problems = [
        f"{key}: warehouse {raw[key]!r} != OLTP {oracle[key]!r}"
        for key in ("events", "id_sum", "distinct_event_ids", "by_type")
        if raw[key] != oracle[key]
    ]
    if raw["snapshots"] and raw["snapshots"]["current_by_plan"] != oracle["accounts_by_plan"]:
        problems.append(
            f"snap_accounts current plans {raw['snapshots']} != OLTP {oracle['accounts_by_plan']}"
        )
    if raw["snapshots"] and raw["snapshots"]["keys_with_two_current"]:
        problems.append(
            f"snap_accounts: {raw['snapshots']['keys_with_two_current']} keys with two current rows"
        )
    return problems


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant of it (from /proc/<pid>/task/<tid>/children)."""
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        try:
            tasks = list((Path("/proc") / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except (OSError, ValueError):
                continue
    return tree


def process_argv(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def open_files(pid: int) -> set[str]:
    """The paths a process has open (its /proc fd links)."""
    paths = set()
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(fd))
        except OSError:
            continue
    return paths


def _task_states(pid: int) -> dict[str, str]:
    """The state letter of each thread of a process (R, S, D, T for stopped, Z, …); empty when it is gone."""
    states = {}
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except OSError:
        return states
    for task in tasks:
        try:
            states[task.name] = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
    return states


def _zombie(pid: int) -> bool:
    return set(_task_states(pid).values()) <= {"Z", "X"}


class Tail:
    """The text appended to a file since this reader was made (a rotated file is read from its start)."""

    def __init__(self, path: Path, from_end: bool = False) -> None:
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self.text = ""

    def read(self) -> str:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return self.text
        if size < self.offset:
            self.offset = 0
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            new = file.read()
        self.offset += len(new)
        self.text += new.decode(errors="replace")
        return self.text


# `aiadmin pipeline run`, its modules imported before it is told to go: a run started during the checks of
# the one before it is ready at once, not seconds of imports later.
_CLI_WHEN_TOLD = """
import sys
import aiadmin.cli, pipelines.run
if sys.stdin.readline() != "go\\n":  # the test went away without a word
    sys.exit(3)
sys.exit(aiadmin.cli.main(["pipeline", "run"]))
"""


class SteppedProcess:
    """A process started in a process group of its own, which the test can freeze at a chosen moment.

    `stop_at(near, at)` freezes the group (SIGSTOP) at a moment where `at(self)` holds, seen while frozen:
    what a kill or a fault then does, it does exactly there. Once `near(self)` holds, the group is stepped:
    frozen, looked at, let go for a few milliseconds, so that even a short window is caught.
    """

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pid = process.pid

    def output(self) -> str:
        """What to show when the moment never came (the process's output, where it is kept)."""
        return ""

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def freeze(self) -> None:
        deadline = time.monotonic() + 30
        os.killpg(self.pid, signal.SIGSTOP)
        # Every thread of every process; one forked while the group was being stopped missed the signal.
        while running := [pid for pid in self.tree() if not self._stopped(pid)]:
            if time.monotonic() > deadline:
                states = {pid: (process_argv(pid)[:3], _task_states(pid)) for pid in running}
                raise RuntimeError(f"processes did not stop: {states}")
            time.sleep(0.001)
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)

    @staticmethod
    def _stopped(pid: int) -> bool:
        """Every thread stopped, or in uninterruptible sleep (D: a disk write, or a parent waiting for its
        vfork child, stopped before its exec), from which it can only return into the pending stop."""
        return all(state in ("T", "t", "D", "Z", "X") for state in _task_states(pid).values())

    def thaw(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)
        for pid in self.tree():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop_at(self, near, at, timeout: float = 600, step: float = 0.003) -> bool:
        """Frozen where `at` holds (True), or False if the process ended first."""
        deadline = time.monotonic() + timeout
        while not near(self):
            if self.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"the process never got near the moment:\n{self.output()[-3000:]}")
            time.sleep(0.01)
        while True:
            self.freeze()
            if at(self):
                return True
            self.thaw()
            if self.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"the process never reached the moment:\n{self.output()[-3000:]}")
            time.sleep(step)

    def kill(self, timeout: float = 60) -> list[list[str]]:
        """SIGKILL to the whole group, as a machine losing power would; what still runs of it after
        `timeout` (nothing, unless a process escaped the group)."""
        tree = self.tree()
        os.killpg(self.pid, signal.SIGKILL)
        self.wait()
        return self.survivors(tree, timeout)

    def kill_main(self, timeout: float = 60) -> list[list[str]]:
        """SIGKILL to the group's first process only, as the OOM killer or `kill -9 <pid>` does it; the rest
        of the group is let go. Returns what still runs of it after `timeout` (dbt going on alone, say)."""
        tree = self.tree()
        os.kill(self.pid, signal.SIGKILL)
        self.wait()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        return self.survivors(tree, timeout)

    @staticmethod
    def survivors(tree: list[int], timeout: float = 60) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while (alive := [pid for pid in tree if _task_states(pid) and not _zombie(pid)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        survivors = [process_argv(pid)[:3] for pid in alive]
        for pid in alive:  # not to leave them behind the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return survivors

    def wait(self, timeout: float = 900) -> int:
        return self.process.wait(timeout=timeout)


class PipelineProcess(SteppedProcess):
    """`aiadmin pipeline run` in a process group of its own (its dbt child included), its output in a file,
    to be frozen at a stage of the run (`STAGES`) with `stop_at`.

    With `go=False` the process only imports, and starts the run when `go()` is called.
    """

    def __init__(
        self, settings: Settings, log_path: Path, go: bool = True, dagster_home: Path | None = None
    ) -> None:
        from warehouse.settings import WarehouseSettings

        warehouse = WarehouseSettings(data_dir=settings.data_dir)
        self.settings = settings
        self.warehouse_path = warehouse.warehouse_path
        self.serving_path = warehouse.serving_path
        self.log = Tail(log_path)
        env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
        if dagster_home:  # else `<data dir>/dagster`, as `aiadmin pipeline run` makes it
            env["DAGSTER_HOME"] = str(dagster_home)
        env.update(
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
            PYTHONUNBUFFERED="1",
            AIADMIN_DATA_DIR=str(settings.data_dir),
            AIADMIN_DATABASE_URL=settings.database_url,
        )
        self._out = open(log_path, "wb")  # closed by wait()
        super().__init__(
            subprocess.Popen(
                [sys.executable, "-c", _CLI_WHEN_TOLD],
                env=env,
                stdin=subprocess.PIPE,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        self.dbt_log: Tail | None = None
        if go:
            self.go()

    def discard(self) -> None:
        """Kill it, if it still runs (or still waits to be told to go)."""
        if self.process.poll() is None:
            self.kill(timeout=5)

    def go(self) -> None:
        from pipelines.dbt_assets import dbt_target_path
        from pipelines.resources import WarehouseResource

        resource = WarehouseResource(
            warehouse_path=str(self.warehouse_path), serving_path=str(self.serving_path)
        )
        # dbt's own log, written as it goes (its lines on the run's output can lag behind).
        self.dbt_log = Tail(dbt_target_path(resource) / "dbt.log", from_end=True)
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def output(self) -> str:
        return self.log.read()

    def has(self, *markers: str) -> bool:
        text = self.output()
        return all(marker in text for marker in markers)

    def dbt_has(self, *markers: str) -> bool:
        text = self.dbt_log.read()
        return all(marker in text for marker in markers)

    def dbt_running(self) -> bool:
        """dbt's `build` runs (a console script: `python …/bin/dbt build …`)."""
        return any(
            "build" in argv and any(arg.endswith("/dbt") for arg in argv[:2])
            for argv in map(process_argv, self.tree())
        )

    def wait(self, timeout: float = 900) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()
            if not self.process.stdin.closed:
                self.process.stdin.close()


def _step(step: str, finished: bool = False) -> str:
    """Dagster's line for a step of the refresh job starting (or finishing)."""
    return f'{"Finished" if finished else "Started"} execution of step "{step}"'


def _extract_reading(run: PipelineProcess) -> bool:
    """The extract's PostgreSQL snapshot is still open: its rows are not committed to DuckDB (the DuckDB
    commit comes after the source's read ends)."""
    import psycopg

    with psycopg.connect(_libpq(run.settings), autocommit=True) as conn:
        (reading,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE '%%FROM usage_events%%WHERE txid >=%%'"
        ).fetchone()
    return reading > 0


@dataclass(frozen=True)
class Stage:
    """A moment of a refresh run, recognised from outside its process.

    `near`: the run is getting there (cheap, looked at while it runs); `at`: it is there (looked at while the
    run is frozen, so that it is still true when the fault lands). `extracted` / `built`: the run's extract
    has committed / its dbt build has finished by then.
    """

    name: str
    what: str
    near: Callable[[PipelineProcess], bool]
    at: Callable[[PipelineProcess], bool]
    extracted: bool
    built: bool


def _dbt_node(node: str, what: str) -> Stage:
    return Stage(
        f"dbt:{node.rsplit('.', 1)[1]}",
        f"dbt executing {node} ({what})",
        near=lambda run: run.dbt_has(f"Began executing node {node}"),
        at=lambda run: (
            run.dbt_has(f"Began executing node {node}")
            and not run.dbt_has(f"Finished running node {node}")
            and run.dbt_running()
        ),
        extracted=True,
        built=False,
    )


STAGES = {
    stage.name: stage
    for stage in (
        Stage(
            "extract",
            "rows of the new events inserted into DuckDB, uncommitted, the read still going",
            near=lambda run: run.has("rows read past cursor"),
            at=lambda run: (
                run.has("rows read past cursor")
                and not run.has(_step("raw__usage_events", finished=True))
                and _extract_reading(run)
            ),
            extracted=False,
            built=False,
        ),
        Stage(
            "between:extract-dimensions",
            "the extract committed, the dimension copy not started",
            near=lambda run: run.has("rows read past cursor"),
            at=lambda run: (
                run.has(_step("raw__usage_events", finished=True)) and not run.has(_step("raw_dimensions"))
            ),
            extracted=True,
            built=False,
        ),
        Stage(
            "dimensions",
            "the dimension tables being replaced in DuckDB (the warehouse open for writing)",
            near=lambda run: run.has(_step("raw_dimensions")),
            at=lambda run: (
                str(run.warehouse_path) in open_files(run.pid) and not run.has("dimensions copied")
            ),
            extracted=True,
            built=False,
        ),
        _dbt_node("snapshot.aiadmin.snap_accounts", "a dimension snapshot"),
        _dbt_node("model.aiadmin.fct_llm_calls", "the incremental fact table, delete+insert"),
        _dbt_node("model.aiadmin.fct_user_days", "an incremental table downstream of the facts"),
        _dbt_node("model.aiadmin.mart_usage_daily", "a mart rebuilt whole"),
        Stage(
            "between:dbt-publish",
            "the build done, the reconciliation check running, nothing published",
            near=lambda run: run.has(_step("dbt_models", finished=True)),
            at=lambda run: (
                run.has(_step("marts__mart_usage_daily_reconciles_with_raw_events"))
                and not run.has(_step("serving_warehouse"))
            ),
            extracted=True,
            built=True,
        ),
        Stage(
            "publish",
            "the new serving copy being written to its temporary file",
            near=lambda run: run.has(_step("serving_warehouse")),
            at=lambda run: any(run.serving_path.parent.glob(f".{run.serving_path.name}.*.tmp")),
            extracted=True,
            built=True,
        ),
    )
}


def _pg_admin():
    import psycopg

    from tests.conftest import POSTGRES_URL

    url = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def pg_settings(data_dir: Path, database: str) -> Settings:
    """Test settings for a PostgreSQL database of the test server and a data dir."""
    from tests.conftest import POSTGRES_URL, TEST_SECRET

    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    return Settings(
        environment="test", secret_key=TEST_SECRET, data_dir=data_dir, database_url=url, background_jobs=False
    )


def run_to_the_end(settings: Settings):
    """One whole refresh in this process (what the `pipeline` fixture runs)."""
    from dagster import DagsterInstance

    from pipelines.definitions import build_definitions
    from pipelines.run import run_pipeline
    from warehouse.settings import WarehouseSettings

    definitions = build_definitions(settings, WarehouseSettings(data_dir=settings.data_dir))
    with DagsterInstance.ephemeral() as instance:
        return run_pipeline(definitions, instance)


@dataclass
class PublishedBaseline:
    """A database and a data dir after one published refresh, with more events and plan changes waiting."""

    root: Path  # `root/baseline` holds the data dir as the refresh left it
    database: str  # a PostgreSQL database, used as the template of each copy
    oracle: dict  # what the published copy holds
    published_at: object  # when it was published
    versions: int  # account versions in the dimension snapshot
    changed: int  # accounts whose plan changed since


@contextlib.contextmanager
def published_baseline(
    template: str, root: Path, *, events: int, pending: int, users: int
) -> Iterator[PublishedBaseline]:
    """`events` events refreshed and published, then `pending` more and a tenth of the plans changed."""
    database = f"aiadmin_faults_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    try:
        settings = pg_settings(root / "var", database)
        bulk_events(settings, events, users=users)
        run_to_the_end(settings)
        oracle = oltp_figures(settings)
        published_at = mart_figures(root / "var" / "serving.duckdb")["published_at"]
        versions = raw_figures(root / "var" / "warehouse.duckdb")["snapshots"]["versions"]
        bulk_events(settings, pending, users=users, salt=1)
        changed = change_plans(settings, every=10)
        _dagster_instance(root / "var" / "dagster")
        (root / "var").rename(root / "baseline")
        yield PublishedBaseline(root, database, oracle, published_at, versions, changed)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _dagster_instance(home: Path) -> None:
    """The Dagster instance that `aiadmin pipeline run` makes under the data dir, made now (its SQLite
    storage takes seconds to create), so that every copy of the baseline starts with it."""
    from dagster import DagsterInstance

    from pipelines.instance import DAGSTER_YAML

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)


@contextlib.contextmanager
def copy_of(baseline: PublishedBaseline, data_dir: Path) -> Iterator[Settings]:
    """A database cloned from the baseline's and its data dir copied to `data_dir` (which may exist, empty:
    a mount point). The same `data_dir` for every copy keeps dbt's partial parse valid (it is tied to the
    warehouse path)."""
    database = f"aiadmin_faults_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{baseline.database}" STRATEGY FILE_COPY')
    try:
        shutil.copytree(baseline.root / "baseline", data_dir, dirs_exist_ok=True)
        yield pg_settings(data_dir, database)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def assert_exact(settings: Settings, baseline: PublishedBaseline) -> tuple[dict, dict]:
    """After a run to the end: the raw events, the snapshots and the marts of both copies equal the oracle,
    nothing left of an interrupted publish. Returns (oracle, raw figures)."""
    import duckdb

    from pipelines.checks import reconcile
    from warehouse.queries import daily_usage
    from warehouse.settings import WarehouseSettings

    wh = WarehouseSettings(data_dir=settings.data_dir)
    oracle = oltp_figures(settings)
    raw = raw_figures(wh.warehouse_path)
    assert raw_matches(raw, oracle) == []
    assert raw["snapshots"]["versions"] == baseline.versions + baseline.changed  # each change once
    served = mart_figures(wh.serving_path)
    assert marts_match(served, oracle) == []
    assert served["published_at"] > baseline.published_at
    assert marts_match(mart_figures(wh.warehouse_path), oracle) == []
    with duckdb.connect(str(wh.warehouse_path), read_only=True) as con:
        assert reconcile(con) == []
    assert not list(settings.data_dir.glob(f".{wh.serving_path.name}.*.tmp*"))  # nor its WAL
    completions = int(daily_usage(path=wh.serving_path)["completions"].sum())
    assert completions == oracle["by_type"]["llm.call_succeeded"]
    return oracle, raw


class RunsAhead:
    """The processes of `count` runs to come, each started two runs ahead: it imports while the runs
    before it run (not all at once: the first would then wait for the imports of all)."""

    def __init__(self, settings: Settings, directory: Path, count: int, dagster_home: Path | None = None):
        self.settings, self.directory, self.dagster_home = settings, directory, dagster_home
        self.count = count
        self.spawned: list[PipelineProcess] = []
        self._spawn_until(2)

    def _spawn_until(self, count: int) -> None:
        while len(self.spawned) < min(count, self.count):
            log = self.directory / f"run-{len(self.spawned)}.log"
            self.spawned.append(PipelineProcess(self.settings, log, go=False, dagster_home=self.dagster_home))

    def take(self, index: int) -> PipelineProcess:
        self._spawn_until(index + 3)
        return self.spawned[index]

    def discard(self) -> None:
        for process in self.spawned:
            process.discard()


def before_run(settings: Settings) -> tuple[dict, dict, dict]:
    """(raw figures, serving copy figures, oracle) as they are: what a run that fails must leave."""
    from warehouse.settings import WarehouseSettings

    wh = WarehouseSettings(data_dir=settings.data_dir)
    return raw_figures(wh.warehouse_path), mart_figures(wh.serving_path), oltp_figures(settings)


def frozen_at(
    settings: Settings,
    stage: Stage,
    log: Path,
    *,
    more: Callable[[int], None],
    ready: PipelineProcess | None = None,
    dagster_home: Path | None = None,
    tries: int = 4,
) -> tuple[PipelineProcess, tuple[dict, dict, dict], int]:
    """A run (`ready`, or a new one) frozen at the stage, what was there before it, and how many runs ended
    before the moment came (each then a complete run, after which `more(attempt)` writes new events)."""
    for attempt in range(tries):
        if ready is None or attempt:
            ready = PipelineProcess(
                settings, log.with_suffix(f".{attempt}.log"), go=False, dagster_home=dagster_home
            )
        run = ready
        try:
            before = before_run(settings)  # (while the run's process imports)
            run.go()
            if run.stop_at(stage.near, stage.at):
                return run, before, attempt
            assert run.wait() == 0, run.output()[-3000:]
        except BaseException:
            run.discard()
            raise
        more(attempt)
    raise AssertionError(f"{tries} runs ended before reaching {stage.what}")


def assert_left_whole(settings: Settings, stage: Stage, before: tuple[dict, dict, dict]) -> None:
    """After a run that died or failed at `stage`: the working warehouse opens and holds every raw event once,
    or none of the run's (never a part); the serving copy is the last good one, whole, and the panel's query
    answers with its figures; a run whose dbt build had finished left exact marts."""
    from warehouse.queries import daily_usage
    from warehouse.settings import WarehouseSettings

    raw_before, served_before, oracle = before
    wh = WarehouseSettings(data_dir=settings.data_dir)
    raw = raw_figures(wh.warehouse_path)  # opens: DuckDB replays or drops what was left
    assert raw["events"] == raw["distinct_event_ids"], f"{stage.name}: an event loaded twice"
    loaded = {key: raw[key] for key in ("events", "id_sum", "distinct_event_ids", "by_type")}
    if stage.extracted:  # the run's extract committed: every event is there, once
        assert raw_matches({**raw, "snapshots": {}}, oracle) == [], stage.name
    else:  # stopped inside the extract: none of its rows is there
        assert loaded == {key: raw_before[key] for key in loaded}, stage.name
        assert raw["cursor"] == raw_before["cursor"], stage.name
    assert mart_figures(wh.serving_path) == served_before, f"{stage.name}: the serving copy changed"
    usage = daily_usage(path=wh.serving_path)
    assert int(usage["completions"].sum()) == served_before["completions"], stage.name
    if stage.built:  # the run's dbt build finished: the working marts are exact already
        assert marts_match(mart_figures(wh.warehouse_path), oracle) == [], stage.name


def next_sensor_tick(settings: Settings, dagster_home: Path | None = None) -> tuple[object, Counter[str]]:
    """One tick of the new-events sensor on the Dagster instance that `aiadmin pipeline run` and the daemon
    share (`<data dir>/dagster` unless given): what it returns, and how many runs then have each status."""
    from dagster import DagsterInstance, build_sensor_context

    from pipelines.orchestration import new_events_sensor
    from pipelines.resources import OltpResource

    with DagsterInstance.from_config(str(dagster_home or settings.data_dir / "dagster")) as instance:
        context = build_sensor_context(
            instance=instance, resources={"oltp": OltpResource(database_url=settings.database_url)}
        )
        tick = new_events_sensor(context)
        statuses = Counter(run.status.value for run in instance.get_runs())
    return tick, statuses
