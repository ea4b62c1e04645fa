"""Guardrails: the policies of roles and plans as staff keep them, what the gateway does with them, and the
moderation queue of the calls they refused (docs/decisions/0056).

The gateway reads the policies from the catalogue snapshot (api/catalogue/service.py loads them with
`load`), never from the database on a call. A refused call takes nothing (no quota, no credits): its
`guardrail.blocked` event and its moderation flag commit together, then the caller gets 400
`content_blocked` naming the rule.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.core.errors import AppError, Conflict, NotFound
from api.events.outbox import RequestContext, record
from api.events.types import EventType
from api.guardrails import repository as repo
from api.guardrails.models import GuardrailPolicy, ModerationFlag
from api.guardrails.pii import redact
from api.guardrails.rules import Guardrails, Hit, Policy, Rule, UnsafePattern, first_hit
from api.users import admin as users

OPEN, DISMISSED, BLOCKED = "open", "dismissed", "blocked"


class ContentBlocked(AppError):
    status_code = 400
    code = "content_blocked"


class UnsafeRule(AppError):
    """A rule refused when saved: a pattern that could run for ever, or that is not one (params: `rule`,
    `problem`)."""

    status_code = 400
    code = "unsafe_pattern"


class DuplicateRule(AppError):
    status_code = 400
    code = "duplicate_rule"


class FlagClosed(Conflict):
    code = "flag_closed"


# ---------------------------------------------------------------- policies


def compiled(scope: str, target: str, redact_pii: bool, rules: list[dict[str, Any]]) -> Policy:
    """The policy as the gateway applies it; UnsafeRule or DuplicateRule for rules that may not be kept."""
    seen: set[str] = set()
    kept = []
    for rule in rules:
        if rule["id"] in seen:
            raise DuplicateRule(f"two rules are called {rule['id']!r}", params={"rule": rule["id"]})
        seen.add(rule["id"])
        try:
            kept.append(Rule.of(rule["id"], rule["kind"], rule["value"]))
        except UnsafePattern as exc:
            raise UnsafeRule(
                f"rule {rule['id']!r} is refused: {exc}", params={"rule": rule["id"], "problem": str(exc)}
            ) from None
    return Policy(scope, target, redact_pii, tuple(kept))


async def load(session: AsyncSession) -> Guardrails:
    """Every policy, compiled (they were checked when saved), for the catalogue snapshot."""
    return Guardrails(
        {
            (p.scope, p.target): compiled(p.scope, p.target, p.redact_pii, list(p.rules or []))
            for p in await repo.policies(session)
        }
    )


def policy_out(row: GuardrailPolicy) -> dict[str, Any]:
    return {
        "scope": row.scope,
        "target": row.target,
        "redact_pii": row.redact_pii,
        "rules": list(row.rules or []),
        "updated_at": row.updated_at,
    }


def _content(row: GuardrailPolicy | None) -> dict[str, Any]:
    return {} if row is None else {"redact_pii": row.redact_pii, "rules": list(row.rules or [])}


async def list_policies(session: AsyncSession) -> list[dict[str, Any]]:
    return [policy_out(p) for p in await repo.policies(session)]


async def save_policy(
    session: AsyncSession, staff: Account, scope: str, target: str, redact_pii: bool,
    rules: list[dict[str, Any]], *, at: datetime,
) -> tuple[GuardrailPolicy, dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Set the role's or plan's policy (not committed: the caller audits it); the row, before, after."""
    compiled(scope, target, redact_pii, rules)  # refused here, when saved, never on a call
    row = await repo.policy(session, scope, target)
    before = _content(row)
    if row is None:
        row = GuardrailPolicy(scope=scope, target=target)
        repo.add(session, row)
    row.redact_pii, row.rules, row.updated_at, row.updated_by = redact_pii, rules, at, staff.id
    await session.flush()
    return row, before, _content(row)


async def remove_policy(session: AsyncSession, scope: str, target: str) -> dict[str, Any]:
    """Drop the role's or plan's policy (not committed); what it was."""
    row = await repo.policy(session, scope, target)
    if row is None:
        raise NotFound(f"the {scope} {target!r} has no guardrails")
    before = _content(row)
    await repo.remove(session, row)
    return before


# ---------------------------------------------------------------- on a call


def redacted(texts: list[str]) -> tuple[list[str], dict[str, int]]:
    """The texts with their personal data replaced, and how many of each kind were (never what)."""
    out, counts = [], {}
    for text in texts:
        done = redact(text)
        out.append(done.text)
        for kind, n in done.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    return out, counts


def record_redacted(
    session: AsyncSession, call: dict[str, Any], counts: dict[str, int], policies: list[Policy],
    reference: uuid.UUID, ctx: RequestContext, at: datetime,
) -> None:  # fmt: skip
    """The `guardrail.redacted` event of a call (the caller commits it): counts by kind, never the text."""
    record(
        session, EventType.GUARDRAIL_REDACTED, at=at, ctx=ctx, **call, status="ok",
        properties={
            "counts": dict(sorted(counts.items())),
            "policies": [f"{p.scope}:{p.target}" for p in policies if p.redact_pii],
            "reference": reference.hex,
        },
    )  # fmt: skip


async def refuse(
    session: AsyncSession, call: dict[str, Any], hit: Hit, reference: uuid.UUID, ctx: RequestContext,
    at: datetime,
) -> NoReturn:  # fmt: skip
    """Record the refusal (its event and its moderation flag, committed together), then refuse: nothing
    was taken."""
    policy = f"{hit.scope}:{hit.target}"
    record(
        session, EventType.GUARDRAIL_BLOCKED, at=at, ctx=ctx, **call, status="refused",
        error_code=ContentBlocked.code,
        properties={"rule": hit.rule, "policy": policy, "reference": reference.hex},
    )  # fmt: skip
    repo.add(
        session,
        ModerationFlag(
            created_at=at, account_id=call["user_id"], reference=reference, chat_id=call.get("chat_id"),
            model_id=call.get("model_id"), role_id=call.get("role_id"), reason=ContentBlocked.code,
            policy=policy, rule=hit.rule, status=OPEN,
        ),
    )  # fmt: skip
    await session.commit()
    raise ContentBlocked(
        f"this request is refused by the {hit.scope}'s content rules (rule {hit.rule!r})",
        params={"rule": hit.rule, "policy": policy},
    )


def screen(
    guardrails: Guardrails, role: str | None, plan: str, texts: list[str]
) -> tuple[Hit | None, list[Policy]]:
    """The rule that refuses these texts (None: none does), and the policies that apply."""
    policies = guardrails.applying(role, plan)
    return first_hit(policies, texts), policies


# ---------------------------------------------------------------- the moderation queue


def flag_out(flag: ModerationFlag, email: str | None) -> dict[str, Any]:
    return {
        "id": flag.id, "created_at": flag.created_at, "account_id": flag.account_id, "email": email,
        "reference": f"chatcmpl-{flag.reference.hex}", "chat_id": flag.chat_id, "model_id": flag.model_id,
        "role_id": flag.role_id, "reason": flag.reason, "policy": flag.policy, "rule": flag.rule,
        "status": flag.status, "reviewer_id": flag.reviewer_id, "reviewed_at": flag.reviewed_at,
        "review_note": flag.review_note,
    }  # fmt: skip


async def list_flags(
    session: AsyncSession, status: str | None, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    return [flag_out(f, email) for f, email in await repo.flags(session, status, limit, offset)]


async def flag_view(session: AsyncSession, flag_id: int) -> dict[str, Any]:
    """One flag as listed (with its user's email)."""
    ((flag, email),) = await repo.flags(session, None, 1, 0, flag_id=flag_id)
    return flag_out(flag, email)


async def _open_flag(session: AsyncSession, flag_id: int) -> ModerationFlag:
    flag = await repo.flag_for_update(session, flag_id)
    if flag is None:
        raise NotFound(f"no moderation flag {flag_id}")
    if flag.status != OPEN:
        raise FlagClosed(
            f"flag {flag_id} was already reviewed ({flag.status})", params={"status": flag.status}
        )
    return flag


async def dismiss(
    session: AsyncSession, staff: Account, flag_id: int, *, note: str | None, at: datetime,
    context: AuditContext,
) -> ModerationFlag:  # fmt: skip
    """Nothing to act on: the flag is closed as dismissed, audited (`moderation.dismiss`)."""
    flag = await _open_flag(session, flag_id)
    flag.status, flag.reviewer_id, flag.reviewed_at, flag.review_note = DISMISSED, staff.id, at, note
    await audit.commit_audited(
        session, staff, "moderation.dismiss", target_type="moderation_flag", target_id=str(flag.id),
        before={"status": OPEN}, after={"status": DISMISSED}, at=at, context=context, reason=note,
    )  # fmt: skip
    return flag


async def block(
    session: AsyncSession, staff: Account, flag_id: int, *, reason: str, at: datetime, ctx: RequestContext,
    context: AuditContext,
) -> tuple[ModerationFlag, list[int]]:  # fmt: skip
    """Block the flag's user with the users' own block (its rules: not oneself, a staff account only by an
    admin, not a deleted one; its `user.blocked` event and `user.block` audit row), and close every open
    flag of theirs as blocked; one transaction. The flag and the flags closed."""
    flag = await _open_flag(session, flag_id)
    await users.set_blocked(
        session, staff, flag.account_id, blocked=True, reason=reason, at=at, ctx=ctx, context=context,
        commit=False,
    )  # fmt: skip
    closed = await repo.close_open_flags(
        session, flag.account_id, status=BLOCKED, reviewer_id=staff.id, at=at, note=reason
    )
    await audit.commit_audited(
        session, staff, "moderation.block", target_type="moderation_flag", target_id=str(flag.id),
        before={"status": OPEN}, after={"status": BLOCKED, "flags_closed": closed}, at=at, context=context,
        reason=reason,
    )  # fmt: skip
    return flag, closed
