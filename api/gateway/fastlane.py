"""The gateway's fast lane on PostgreSQL: a completion's bookkeeping as plain SQL on an asyncpg pool.

An ORM session costs more CPU around a statement than PostgreSQL spends running it (about 0.1 ms a
statement and 0.2 ms a transaction here, against 0.01 ms for a prepared statement on asyncpg), and a
completion's bookkeeping is a dozen small statements. So on PostgreSQL the common path is three
prepared statements, one round trip each:

- the caller: the account of a live session or API key (`/v1/*` only: these routes read the account,
  never change it, so a detached row is enough);
- transaction 1 of a call outside a chat: the token quotas, the day's request and the reservation, in
  `gateway_take` (migration 0015);
- transaction 2 of a successful call outside a chat: the settlement, the tokens and the events, in
  `gateway_settle`.

The rows written are the ones the portable code writes (`billing.move`, `quotas`, `record`), which stays
the path on SQLite, for calls in a chat, and for every refusal, failure and refund: those are rare, and
run through the session as before, in their own transactions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from api.accounts.models import Account
from api.core.errors import DatabaseUnavailable
from api.core.settings import Settings
from api.quotas.windows import DAILY_TOKENS, MONTHLY_TOKENS

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
# Transaction 1 and transaction 2 (success) as one statement each: migration 0015's functions.
TAKE = "SELECT refused, new_balance FROM gateway_take($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
SETTLE = "SELECT gateway_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


@dataclass(frozen=True, slots=True)
class Quota:
    """A plan's limit of one metric in the window `at` falls in."""

    metric: str
    window_start: date
    limit: int


@dataclass(frozen=True, slots=True)
class Taken:
    """What transaction 1 did, or why it took nothing: the quota used up, or the balance too low; the
    balance after the reservation, if one was made."""

    refused: Quota | None = None
    insufficient: bool = False
    balance: Decimal | None = None


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


class Books:
    """The fast lane's pool and statements (one per API process, opened by the app's lifespan)."""

    def __init__(self, settings: Settings) -> None:
        self._dsn = (
            make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._size = settings.fast_lane_pool_size
        self._pool: asyncpg.Pool | None = None

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
        account_id: uuid.UUID,
        *,
        tokens: list[Quota],
        requests: Quota | None,
        reserve: Decimal | None,
        reference: str,
        model_id: str,
        at: datetime,
    ) -> Taken:
        """Transaction 1: refuse on a used-up token quota, take the day's request, reserve the credits
        (`reserve` None: a free call). A refusal takes nothing (the transaction is rolled back)."""
        with _available():
            row = await self._pool.fetchrow(
                TAKE,
                account_id,
                [quota.metric for quota in tokens],
                [quota.window_start for quota in tokens],
                [quota.limit for quota in tokens],
                requests.metric if requests else None,
                requests.window_start if requests else None,
                requests.limit if requests else None,
                reserve,
                reference,
                at,
                {"reserved": True, "model": model_id},
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
        account_id: uuid.UUID,
        *,
        reference: str,
        reserved: Decimal,
        actual: Decimal | None,
        tokens: int,
        day: date,
        month: date,
        events: list[dict[str, Any]],
        at: datetime,
    ) -> Decimal | None:
        """Transaction 2 of a successful call (gateway.service.settle_charge and store_outcome): refund the
        unused reservation or take the rest (never below zero), count the tokens, write the events (their
        `credits` set to the credits charged). Returns those credits (None for a free call: `actual` None)."""
        with _available():
            return await self._pool.fetchval(
                SETTLE, account_id, reference, reserved, actual, at, DAILY_TOKENS, day, MONTHLY_TOKENS, month,
                tokens, events,
            )  # fmt: skip


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
