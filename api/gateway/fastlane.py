"""The gateway's fast lane on PostgreSQL: a completion's bookkeeping as plain SQL on an asyncpg pool.

An ORM session costs more CPU around a statement than PostgreSQL spends running it (about 0.1 ms a
statement and 0.2 ms a transaction here, against 0.01 ms for a prepared statement on asyncpg), and a
completion's bookkeeping is a dozen small statements. So on PostgreSQL the common path is three
prepared statements, one round trip each:

- the caller: the account of a live session or API key (`/v1/*` only: these routes read the account,
  never change it, so a detached row is enough);
- `take` of a call outside a chat: the token quotas, the day's request and the reservation, in
  `gateway_take`;
- `settle` of a call outside a chat that answered (streamed or not): the settlement, the tokens and the
  events, in `gateway_settle`.

A call its role's or model's response cache covers adds one more each way: the kept answer's read, and
(a miss) the answer kept, an upsert (the table's trim, every 64th, goes the portable way).

The two functions are in api/gateway/sql/, installed by migrations. `FastBooks` is the PostgreSQL
implementation of the bookkeeping seam (api/gateway/books.py); it hands calls in a chat and every refund
to the portable implementation, in the request's session: those are rare.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.cache.models import CachedResponse
from api.cache.service import CacheCall
from api.catalogue.service import PlanSpec
from api.core.errors import DatabaseUnavailable
from api.core.settings import Settings
from api.events.outbox import RequestContext, event_row
from api.events.types import EventType
from api.gateway.books import (
    Outcome,
    PortableBooks,
    Prepared,
    Quota,
    Taken,
    reservation_details,
    watch_balance,
)
from api.providers.base import ChatMessage
from api.quotas.windows import DAILY_TOKENS, MONTHLY_TOKENS, month_start, utc_day

log = logging.getLogger("aiadmin.gateway")

_ACCOUNT_ATTRS = tuple((a.key, a.columns[0].name) for a in inspect(Account).column_attrs)
_ACCOUNT_SELECT = ", ".join(f"a.{column}" for _, column in _ACCOUNT_ATTRS)

# The column lists below come from the models, never from input.
SESSION_ACCOUNT = f"""
SELECT {_ACCOUNT_SELECT}, s.impersonator_id
FROM accounts a JOIN auth_sessions s ON s.account_id = a.id
WHERE a.id = $1 AND s.id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3
"""  # noqa: S608
KEY_ACCOUNT = f"""
SELECT {_ACCOUNT_SELECT}, k.id AS api_key_id, k.last_used_at AS api_key_last_used_at
FROM api_keys k JOIN accounts a ON a.id = k.account_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""  # noqa: S608
KEY_USED = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"
# Transaction 1 and transaction 2 (success) as one statement each: the functions in api/gateway/sql/.
TAKE = "SELECT refused, new_balance FROM gateway_take($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
SETTLE = "SELECT gateway_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


# The response cache (docs/decisions/0057): a hit's read and a miss's answer kept, one statement each.
_CACHE_COLUMNS = tuple(c.name for c in CachedResponse.__table__.columns)
CACHED = f"SELECT {', '.join(_CACHE_COLUMNS)} FROM response_cache WHERE key = $1 AND expires_at > $2"  # noqa: S608
KEEP = (
    f"INSERT INTO response_cache ({', '.join(_CACHE_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_CACHE_COLUMNS) + 1))}) "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _CACHE_COLUMNS if c != "key")
)


# A connection refused, reset or closed, a server shutting down or starting up, no connection free.
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


@contextmanager
def _available() -> Iterator[None]:
    """The database's unavailability as the API's 503 (asyncpg's errors are not SQLAlchemy's)."""
    try:
        yield
    except asyncpg.DataError:
        raise
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable() from exc


class FastBooks:
    """The bookkeeping seam on PostgreSQL (one per API process, opened by the app's lifespan): the pool,
    its statements, and the portable implementation for what they do not cover. It also finds the caller
    of `/v1/*` for authentication (`api.auth.deps.Books`)."""

    def __init__(self, settings: Settings, portable: PortableBooks) -> None:
        self._dsn = (
            make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._size = settings.fast_lane_pool_size
        self._pool: asyncpg.Pool | None = None
        self._portable = portable

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._size, init=_codecs, reset=_nothing_to_reset,
            command_timeout=60,
        )  # fmt: skip

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def session_account(
        self, account_id: uuid.UUID, session_id: uuid.UUID, at: datetime
    ) -> tuple[Account, uuid.UUID | None] | None:
        """auth_repo.account_of_live_session: the account (detached) and the session's impersonator."""
        with _available():
            row = await self._pool.fetchrow(SESSION_ACCOUNT, account_id, session_id, at)
        return (_account(row), row["impersonator_id"]) if row else None

    async def key_account(
        self, key_hash: str, at: datetime, resolution: timedelta
    ) -> tuple[Account, uuid.UUID] | None:
        """api_keys.resolve: the account of a live key, noting when the key was last used (to the
        `resolution`)."""
        with _available():
            row = await self._pool.fetchrow(KEY_ACCOUNT, key_hash)
            if row is None:
                return None
            last = row["api_key_last_used_at"]
            if last is None or at - last > resolution:
                await self._pool.execute(KEY_USED, row["api_key_id"], at)
        return _account(row), row["api_key_id"]

    async def take(
        self,
        session: AsyncSession,
        account: Account,
        *,
        plan: PlanSpec | None,
        tokens: list[Quota],
        requests: Quota | None,
        reserve_tokens: int,
        reserve: Decimal | None,
        reference: str,
        model_id: str,
        chat_id: uuid.UUID | None,
        messages: list[ChatMessage],
        at: datetime,
        role_id: str | None = None,
    ) -> Taken:
        """`Books.take` in `gateway_take` (a call in a chat: the portable way). A refusal takes nothing
        (the function's block is rolled back)."""
        if chat_id is not None:
            return await self._portable.take(
                session, account, plan=plan, tokens=tokens, requests=requests, reserve_tokens=reserve_tokens,
                reserve=reserve, reference=reference, model_id=model_id, chat_id=chat_id, messages=messages,
                at=at, role_id=role_id,
            )  # fmt: skip
        with _available():
            row = await self._pool.fetchrow(
                TAKE,
                account.id,
                [quota.metric for quota in tokens],
                [quota.window_start for quota in tokens],
                [quota.limit for quota in tokens],
                reserve_tokens,
                requests.metric if requests else None,
                requests.window_start if requests else None,
                requests.limit if requests else None,
                reserve,
                reference,
                at,
                reservation_details(model_id, reserve_tokens),
            )
        refused = row["refused"]
        if refused == "balance":
            return Taken(insufficient=True)
        if refused is not None:
            quotas = [*tokens, requests] if requests else tokens
            return Taken(refused=next(quota for quota in quotas if quota.metric == refused))
        return Taken(balance=row["new_balance"])

    async def settle(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        outcome: Outcome,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        """`Books.settle` in `gateway_settle`, which sets the events' `credits` to the credits it charged
        (a call in a chat: the portable way); then the balance_low rule, if the call crossed it, through
        the session."""
        if prepared.chat_id is not None:
            return await self._portable.settle(session, account, prepared, outcome, ctx, at)
        charge = prepared.charge
        paid = charge.rate is not None
        events = [event_row(EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **outcome.event(prepared))]
        if paid:
            charged = event_row(
                EventType.BALANCE_CHARGED, at=at, ctx=ctx, **prepared.call, status="ok",
                properties={"reference": charge.reference},
            )  # fmt: skip
            events.insert(0, charged)
        actual = charge.rate.credits_for_usd(outcome.charged_usd) if paid else None
        tokens = outcome.input_tokens + outcome.output_tokens - prepared.bound.total  # used minus reserved
        with _available():
            credits = await self._pool.fetchval(
                SETTLE, account.id, charge.reference, charge.reserved, actual, at, DAILY_TOKENS, utc_day(at),
                MONTHLY_TOKENS, month_start(at), tokens, events,
            )  # fmt: skip
        if paid and credits is None:  # the recovery job ended the reservation first
            log.warning(
                "reservation %s was already ended: the call's settlement changed nothing", charge.reference
            )
            return None
        if paid and await watch_balance(session, account, charge, credits, at):
            await session.commit()
        return None

    async def refund(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        error: BaseException,
        started: float,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        """`Books.refund`, the portable way: failures are rare."""
        await self._portable.refund(session, account, prepared, error, started, ctx, at)

    async def cached(self, session: AsyncSession, call: CacheCall, at: datetime) -> CachedResponse | None:
        """`Books.cached` in one prepared statement: the row, detached."""
        with _available():
            row = await self._pool.fetchrow(CACHED, call.key, at)
        return None if row is None else CachedResponse(**dict(row))

    async def keep(self, session: AsyncSession, row: dict[str, Any], *, max_entries: int, trim: bool) -> None:
        """`Books.keep`: the upsert in one prepared statement; a trim (every TRIM_EVERY-th) the portable
        way."""
        if trim:
            return await self._portable.keep(session, row, max_entries=max_entries, trim=True)
        try:
            with _available():
                await self._pool.execute(KEEP, *(row[c] for c in _CACHE_COLUMNS))
        except Exception:  # the answer was given and settled: a lost cache entry costs one more provider call
            log.exception("response cache: the answer for %s was not kept", row["model_id"])
        return None


def _account(row: asyncpg.Record) -> Account:
    return Account(**{key: row[column] for key, column in _ACCOUNT_ATTRS})


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()  # uuids, times and decimals as PostgreSQL reads them


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it came: these statements set no session state, hold no
    advisory lock, open no cursor and listen to nothing (asyncpg's own reset is a round trip a call)."""


async def _codecs(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_json, decoder=json.loads, schema="pg_catalog")
