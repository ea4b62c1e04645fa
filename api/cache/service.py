"""The response cache (docs/decisions/0057): an exact repeat of a request is answered with the answer kept
from the first, without a provider call.

- Opt-in: a model's or a role's rule (`response_cache_rules`) turns it on with a TTL; a call with a role
  follows the role's rule when it has one, else the model's. Calls in a chat are never cached: their
  history makes each request new, and their messages and slots are the chat's bookkeeping.
- The key is the sha256 of the canonical JSON of what the provider would get and who asks: the model, the
  role and its version, the messages after the role's system prompt and the guardrails' redaction, the
  temperature and the answer's limit, and the scope: the user's id, or "shared" when the role says so.
  A sampled answer (temperature > 0) is kept too: the client asked for exactly this request before.
- What a hit takes is the staff's setting `hits_take` (app setting `response_cache`): "quota" (default:
  the day's request and the answer's tokens, no credits: no provider was paid), "full" (credits too, at
  the stored cost) or "none".
- Stored in PostgreSQL (or SQLite), not Redis: the API has no Redis, and a hit already reads the database
  for its bookkeeping. Bounded: every `TRIM_EVERY`-th answer an API process keeps (its first included)
  removes the expired ones, then the oldest past `response_cache_max_entries`; between two trims a
  process may keep up to `TRIM_EVERY - 1` answers over the bound (bench/gateway_features.py measured the
  trim on every answer at several milliseconds of CPU a miss).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.cache.models import CachedResponse, CacheRule
from api.core.app_settings import AppSetting
from api.core.db import flush_or
from api.core.errors import Conflict
from api.providers.base import CallParams, ChatMessage

TRIM_EVERY = 64  # kept answers between two trims of the table, per API process

log = logging.getLogger("aiadmin.cache")

SETTING = "response_cache"
HITS_TAKE = ("quota", "full", "none")
DEFAULT_HITS_TAKE = "quota"
MAX_TTL_SECONDS = 30 * 86400  # a month: an answer older than that is seldom still the one wanted
SHARED = "shared"
PROVIDER = "cache"  # the provider a hit's `llm.call_succeeded` names


@dataclass(frozen=True, slots=True)
class Rule:
    ttl_seconds: int
    shared: bool = False


@dataclass(frozen=True, slots=True)
class CacheRules:
    """The rules as the catalogue snapshot holds them: the gateway reads them on every call."""

    models: dict[str, Rule] = field(default_factory=dict)
    roles: dict[str, Rule] = field(default_factory=dict)
    hits_take: str = DEFAULT_HITS_TAKE

    def rule_for(self, model_id: str, role_id: str | None) -> Rule | None:
        """The role's rule when the call has a role that has one, else the model's (never shared)."""
        if role_id is not None and role_id in self.roles:
            return self.roles[role_id]
        rule = self.models.get(model_id)
        return None if rule is None else Rule(rule.ttl_seconds, shared=False)


@dataclass(frozen=True, slots=True)
class CacheCall:
    """A call the cache applies to: its key, and how long its answer is kept."""

    key: str
    model_id: str
    role_id: str | None
    scope: str
    ttl_seconds: int


def cache_key(
    model_id: str, role_id: str | None, role_version: int | None, messages: list[ChatMessage],
    params: CallParams, scope: str,
) -> str:  # fmt: skip
    canonical = json.dumps(
        {
            "model": model_id,
            "role": [role_id, role_version],
            "messages": [[m.role, m.content] for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "scope": scope,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def call_for(
    rules: CacheRules, model_id: str, role_id: str | None, role_version: int | None,
    account_id: uuid.UUID, chat_id: uuid.UUID | None, messages: list[ChatMessage], params: CallParams,
) -> CacheCall | None:  # fmt: skip
    """The cache's part in a call, or None when the cache is off for it (or the call is in a chat, or
    asks a fault of the test mock)."""
    rule = rules.rule_for(model_id, role_id)
    if rule is None or chat_id is not None or params.fault:
        return None
    scope = SHARED if rule.shared else str(account_id)
    key = cache_key(model_id, role_id, role_version, messages, params, scope)
    return CacheCall(key, model_id, role_id, scope, rule.ttl_seconds)


async def lookup(session: AsyncSession, call: CacheCall, at: datetime) -> CachedResponse | None:
    """The answer kept for the call, if it has not expired."""
    row = await session.get(CachedResponse, call.key)
    if row is None or row.expires_at <= at:
        return None
    return row


def kept_row(
    call: CacheCall, *, answer: str, finish_reason: str, input_tokens: int, output_tokens: int,
    cost_usd: Decimal, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The `response_cache` row that keeps an answer for `call`, by column."""
    return {
        "key": call.key, "model_id": call.model_id, "role_id": call.role_id, "scope": call.scope,
        "answer": answer, "finish_reason": finish_reason, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "cost_usd": cost_usd, "created_at": at,
        "expires_at": at + timedelta(seconds=call.ttl_seconds),
    }  # fmt: skip


async def store(
    session: AsyncSession, values: dict[str, Any], *, max_entries: int, trim: bool = True
) -> None:
    """Keep an answer (`values`: `kept_row`), replacing an older one under its key, then, when `trim`,
    bound the table: the expired answers go, then the oldest past `max_entries` (a scan of up to
    `max_entries` keys, which the gateway does once every `TRIM_EVERY` answers it keeps, not on each).
    Its own transaction; a failure is logged, never the call's."""
    at = values["created_at"]
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(CachedResponse).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={k: v for k, v in values.items() if k != "key"}
    )
    try:
        await session.execute(statement)
        if trim:
            await session.execute(delete(CachedResponse).where(CachedResponse.expires_at <= at))
            oldest = (
                select(CachedResponse.key)
                .order_by(CachedResponse.created_at.desc(), CachedResponse.key)
                .offset(max_entries)
            )
            await session.execute(delete(CachedResponse).where(CachedResponse.key.in_(oldest)))
        await session.commit()
    except Exception:  # the answer was given and settled: a lost cache entry costs one more provider call
        await session.rollback()
        log.exception("response cache: the answer for %s was not kept", values["model_id"])


# ---------------------------------------------------------------- the rules and the staff's controls


async def load(session: AsyncSession) -> CacheRules:
    """Every rule and the hits' setting, for the catalogue snapshot."""
    models: dict[str, Rule] = {}
    roles: dict[str, Rule] = {}
    for rule in (await session.scalars(select(CacheRule))).all():
        (models if rule.scope == "model" else roles)[rule.target] = Rule(rule.ttl_seconds, rule.shared)
    return CacheRules(models, roles, await hits_take(session))


async def hits_take(session: AsyncSession) -> str:
    row = await session.get(AppSetting, SETTING)
    value = (row.value or {}).get("hits_take") if row is not None else None
    return value if value in HITS_TAKE else DEFAULT_HITS_TAKE


def rule_out(rule: CacheRule) -> dict[str, Any]:
    return {
        "scope": rule.scope, "target": rule.target, "ttl_seconds": rule.ttl_seconds, "shared": rule.shared,
        "updated_at": rule.updated_at,
    }  # fmt: skip


async def overview(session: AsyncSession, at: datetime) -> dict[str, Any]:
    """The rules, the hits' setting and what the cache holds (live entries, by model)."""
    rules = (await session.scalars(select(CacheRule).order_by(CacheRule.scope, CacheRule.target))).all()
    counts = await session.execute(
        select(CachedResponse.model_id, func.count())
        .where(CachedResponse.expires_at > at)
        .group_by(CachedResponse.model_id)
        .order_by(CachedResponse.model_id)
    )
    return {
        "hits_take": await hits_take(session),
        "rules": [rule_out(r) for r in rules],
        "entries": {model: count for model, count in counts.all()},
    }


async def save_rule(
    session: AsyncSession, staff: Account, scope: str, target: str, ttl_seconds: int, shared: bool, *,
    at: datetime, context: AuditContext, after_commit,
) -> dict[str, Any]:  # fmt: skip
    """Turn a model's or a role's cache on (or change its TTL), audited."""
    row = await session.get(CacheRule, (scope, target))
    before = {} if row is None else {"ttl_seconds": row.ttl_seconds, "shared": row.shared}
    if row is None:
        row = CacheRule(scope=scope, target=target)
        session.add(row)
    row.ttl_seconds, row.shared, row.updated_at, row.updated_by = ttl_seconds, shared, at, staff.id
    await flush_or(  # turned on by another change at the same time
        session,
        Conflict(f"the {scope} {target!r}'s cache was just set by another change: reload and try again"),
    )
    out = rule_out(row)
    await audit.commit_audited(
        session, staff, "response_cache.edit", target_type=scope, target_id=target, before=before,
        after={"ttl_seconds": ttl_seconds, "shared": shared}, at=at, context=context,
        after_commit=after_commit,
    )  # fmt: skip
    return out


async def delete_rule(
    session: AsyncSession, staff: Account, scope: str, target: str, *, at: datetime, context: AuditContext,
    after_commit,
) -> bool:  # fmt: skip
    """Turn a model's or a role's cache off (its kept answers stay until they expire or are cleared),
    audited; False if it was off."""
    row = await session.get(CacheRule, (scope, target))
    if row is None:
        return False
    before = {"ttl_seconds": row.ttl_seconds, "shared": row.shared}
    await session.delete(row)
    await audit.commit_audited(
        session, staff, "response_cache.delete", target_type=scope, target_id=target, before=before,
        after={}, at=at, context=context, after_commit=after_commit,
    )  # fmt: skip
    return True


async def set_hits_take(
    session: AsyncSession, staff: Account, value: str, *, at: datetime, context: AuditContext, after_commit
) -> None:
    row = await session.get(AppSetting, SETTING)
    before = {"hits_take": await hits_take(session)}
    if row is None:
        row = AppSetting(key=SETTING, value={}, updated_at=at)
        session.add(row)
    row.value, row.updated_at = {"hits_take": value}, at
    await audit.commit_audited(
        session, staff, "response_cache.settings", target_type="setting", target_id=SETTING, before=before,
        after={"hits_take": value}, at=at, context=context, after_commit=after_commit,
    )  # fmt: skip


async def clear(
    session: AsyncSession, staff: Account, *, model: str | None, role: str | None, at: datetime,
    context: AuditContext,
) -> int:  # fmt: skip
    """Remove the kept answers: all, a model's or a role's (both named: the model's for the role), audited;
    how many."""
    statement = delete(CachedResponse)
    if model is not None:
        statement = statement.where(CachedResponse.model_id == model)
    if role is not None:
        statement = statement.where(CachedResponse.role_id == role)
    removed = (await session.execute(statement)).rowcount
    target = ",".join(f"{k}:{v}" for k, v in (("model", model), ("role", role)) if v is not None) or "all"
    await audit.commit_audited(
        session, staff, "response_cache.clear", target_type="response_cache", target_id=target,
        before={"entries": removed}, after={"entries": 0}, at=at, context=context,
    )  # fmt: skip
    return removed
