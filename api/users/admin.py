"""What staff do to accounts: find, look at, block and unblock, change the plan, adjust the balance.

Every change is one transaction: the account, its usage event and its audit row commit together.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.errors import UnknownPlan
from api.accounts.models import Account
from api.audit import service as audit
from api.audit.schemas import AuditEntryOut
from api.audit.service import AuditContext, AuditFilter
from api.auth import sessions as auth_sessions
from api.auth.credentials import AccessToken, issue_access_token
from api.billing import service as billing
from api.billing.service import InsufficientBalance
from api.core.errors import AppError, Conflict, Forbidden, NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.users import repository as repo
from api.users.repository import SortColumn, UserFilter


class AlreadyInThatState(Conflict):
    code = "no_change"


class StaffTargetRequiresAdmin(Forbidden):
    code = "staff_target_requires_admin"


class CannotActOnSelf(Forbidden):
    code = "cannot_act_on_self"


class AccountDeleted(Conflict):
    """A tombstone (deleted at its owner's request, decision 0047): nothing staff do to it means anything."""

    code = "account_deleted"


async def search(
    session: AsyncSession, f: UserFilter, *, sort: SortColumn, descending: bool, limit: int, offset: int
) -> tuple[int, list[Account]]:
    """The page of accounts that match, in the order asked (then by id), and how many match in all."""
    return await repo.search(session, f, sort=sort, descending=descending, limit=limit, offset=offset)


# The export streams every matching account's columns, in the list's order (api.core.exports).
EXPORT_COLUMNS, export_query = repo.EXPORT_COLUMNS, repo.export_query


async def get(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await accounts.get_account(session, account_id)
    if account is None:
        raise NotFound("no such account")
    return account


async def _locked(session: AsyncSession, account_id: uuid.UUID) -> Account:
    """The account to change, locked until the change commits: a concurrent change of it (a bulk action, a
    single one) waits and then sees this one, so each is judged on the state it really changes."""
    found = await accounts.lock_accounts(session, [account_id])
    if not found:
        raise NotFound("no such account")
    return found[0]


async def stats(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """Lifetime chats, messages, tokens, cost and credits; the most used models and roles; the last 30
    days' activity (events a day). From the OLTP events (indexed by user and time)."""
    totals = await repo.lifetime_totals(session, account_id)
    times = await repo.activity_times(session, account_id, now - timedelta(days=30))
    per_day = Counter(moment.astimezone(UTC).date().isoformat() for moment in times)
    return {
        "chats": totals[0],
        "messages": totals[1],
        "completions": totals[2],
        "input_tokens": int(totals[3]),
        "output_tokens": int(totals[4]),
        "cost_usd": Decimal(totals[5]),
        "credits": Decimal(totals[6]),
        "last_active_at": totals[7],
        "top_models": await repo.most_called(session, account_id, "model_id"),
        "top_roles": await repo.most_called(session, account_id, "role_id"),
        "activity_30_days": [{"day": d, "events": n} for d, n in sorted(per_day.items())],
    }


def _may_act(actor: Account, target: Account) -> None:
    if target.deleted_at is not None:
        raise AccountDeleted("this account was deleted by its owner: it cannot be changed or impersonated")
    if actor.id == target.id:
        raise CannotActOnSelf("staff cannot change their own account here")
    if target.is_staff and actor.role != "admin":
        raise StaffTargetRequiresAdmin("only an admin may change a staff account")


async def set_blocked(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    blocked: bool,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
    commit: bool = True,
    bulk: str | None = None,
) -> Account:
    target = await _locked(session, target_id)
    _may_act(actor, target)
    if target.is_blocked == blocked:
        raise AlreadyInThatState("the account is already " + ("blocked" if blocked else "not blocked"))
    target.is_blocked = blocked
    ended = {}
    if blocked:  # for good: an unblock revives no session nor key (api/auth/sessions.py)
        ended["sessions_ended"], ended["api_keys_revoked"] = await auth_sessions.end_all(
            session, target.id, at=at
        )
    await _commit_change(
        session,
        actor,
        target,
        EventType.USER_BLOCKED if blocked else EventType.USER_UNBLOCKED,
        "user.block" if blocked else "user.unblock",
        before={"is_blocked": not blocked},
        after={"is_blocked": blocked},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
        properties=ended,
        commit=commit,
        bulk=bulk,
    )
    return target


async def change_plan(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    plan: str,
    reason: str | None,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
    commit: bool = True,
    bulk: str | None = None,
) -> Account:
    target = await _locked(session, target_id)
    _may_act(actor, target)
    if await accounts.get_plan(session, plan) is None:
        raise UnknownPlan(f"there is no plan {plan!r}")
    # A plan staff assign does not end: one the account bought (with its end) becomes its for good, so the
    # plan it already holds is a change too while it has an end (docs/decisions/0050).
    ends = target.plan_expires_at
    if target.plan_code == plan and ends is None:
        raise AlreadyInThatState(f"the account is already on {plan!r}")
    before = target.plan_code
    target.plan_code, target.plan_expires_at = plan, None
    ended = {"plan_expires_at": ends.isoformat()} if ends else {}
    await _commit_change(
        session,
        actor,
        target,
        EventType.PLAN_CHANGED,
        "user.plan_change",
        before={"plan": before, **ended},
        after={"plan": plan},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
        properties={"from": before, "to": plan, **ended},
        commit=commit,
        bulk=bulk,
    )
    return target


async def adjust_balance(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    amount: Decimal,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> Decimal:
    """Add (or, negative, take) credits: a ledger row of kind `adjustment`; never below zero."""
    target = await get(session, target_id)
    _may_act(actor, target)
    before = target.balance
    balance = await billing.move(
        session,
        target.id,
        amount,
        kind="adjustment",
        at=at,
        reference=f"adjustment-{uuid.uuid4().hex}",
        details={"by": str(actor.id), "reason": reason},
    )
    if balance is None:
        raise InsufficientBalance(f"the balance is {before}: it cannot go below zero")
    await _commit_change(
        session,
        actor,
        target,
        EventType.BALANCE_ADJUSTED,
        "user.balance_adjust",
        before={"balance": str(before)},
        after={"balance": str(balance)},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
        credits=amount,
    )
    return balance


IMPERSONATION_MINUTES = 15


class CannotImpersonateStaff(Forbidden):
    code = "cannot_impersonate_staff"


async def impersonate(
    session: AsyncSession,
    settings: Settings,
    actor: Account,
    actor_session_id: uuid.UUID,
    target_id: uuid.UUID,
    *,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> AccessToken:
    """A short-lived, read-only session as the account, marked with the admin's id: every request made
    with it is audited in the admin's name (api/auth/deps.py). No refresh token. It ends with the admin's
    session `actor_session_id`, the admin's block, or the admin's loss of users:impersonate."""
    target = await get(session, target_id)
    _may_act(actor, target)
    if target.is_staff:
        raise CannotImpersonateStaff("only end users can be impersonated")
    expires_at = at + timedelta(minutes=IMPERSONATION_MINUTES)
    auth_session = await auth_sessions.open_impersonation(
        session, target, actor, actor_session_id, at=at, expires_at=expires_at, ctx=ctx
    )
    await audit.commit_audited(
        session,
        actor,
        "user.impersonate",
        target_type="account",
        target_id=str(target.id),
        before={},
        after={"session_id": str(auth_session.id), "expires_at": expires_at.isoformat()},
        at=at,
        context=context,
        reason=reason,
    )
    token = issue_access_token(settings, target.id, auth_session.id, now=at)
    return AccessToken(token.token, min(token.expires_in, IMPERSONATION_MINUTES * 60))


async def _commit_change(
    session: AsyncSession,
    actor: Account,
    target: Account,
    event: EventType,
    action: str,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
    properties: dict[str, Any] | None = None,
    commit: bool = True,
    bulk: str | None = None,
    **measures,
) -> None:
    """The change's usage event and audit row, committed with the change itself (or, `commit=False`, left
    for the caller to commit with the rest of a bulk action, whose reference `bulk` both carry)."""
    if bulk is not None:
        properties, after = {**(properties or {}), "bulk": bulk}, {**after, "bulk": bulk}
    record(
        session,
        event,
        at=at,
        ctx=ctx,
        **about(target),
        **measures,
        status="ok",
        properties={"by": str(actor.id), "reason": reason, **(properties or {})},
    )
    write = audit.commit_audited if commit else audit.write
    await write(
        session,
        actor,
        action,
        target_type="account",
        target_id=str(target.id),
        before=before,
        after=after,
        at=at,
        context=context,
        reason=reason,
    )


BULK_MAX = 100
BulkAction = Literal["block", "unblock", "change_plan"]


class BulkItemRefused(AppError):
    """One account of a bulk action could not be changed, so none was: the status and code are those of the
    single action's refusal, the message names the account."""

    code = "bulk_item_refused"  # replaced by the refusal's own code

    def __init__(self, account_id: uuid.UUID, cause: AppError) -> None:
        message = f"account {account_id}: {cause.message}; nothing was changed"
        super().__init__(message, account_id=str(account_id))
        self.status_code, self.code, self.type = cause.status_code, cause.code, cause.type  # type: ignore[misc]


async def bulk(
    session: AsyncSession,
    actor: Account,
    target_ids: list[uuid.UUID],
    *,
    action: BulkAction,
    reason: str,
    plan: str | None,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> str:
    """Block, unblock or move to `plan` every account in `target_ids` with one reason, all or nothing: each
    account goes through the single action's rules (not oneself, staff only by an admin, a real change) and
    gets its event and audit row, all carrying the bulk reference, which has an audit row of its own; one
    refusal rolls everything back (docs/decisions/0044-bulk-actions-and-revenue.md). The reference."""
    reference = f"bulk-{uuid.uuid4().hex}"
    # Every account locked first, in id order, so that bulk actions over overlapping accounts (and
    # single actions on them) queue instead of deadlocking or changing an account twice.
    await accounts.lock_accounts(session, target_ids)
    for target_id in target_ids:
        try:
            if action == "change_plan":
                await change_plan(
                    session, actor, target_id, plan=plan or "", reason=reason, at=at, ctx=ctx,
                    context=context, commit=False, bulk=reference,
                )  # fmt: skip
            else:
                await set_blocked(
                    session, actor, target_id, blocked=action == "block", reason=reason, at=at,
                    ctx=ctx, context=context, commit=False, bulk=reference,
                )  # fmt: skip
        except AppError as refused:
            raise BulkItemRefused(target_id, refused) from refused
    await audit.commit_audited(
        session,
        actor,
        "user.bulk",
        target_type="bulk",
        target_id=reference,
        before={},
        after={"action": action, "plan": plan, "accounts": [str(i) for i in target_ids]},
        at=at,
        context=context,
        reason=reason,
    )
    # Nothing is committed until the end: a refusal leaves the transaction to the session's close, which
    # rolls it back (SessionDep).
    return reference


async def history(session: AsyncSession, target_id: uuid.UUID, limit: int = 100) -> list[AuditEntryOut]:
    """The audit log of one account, newest first."""
    rows = await audit.entries(
        session, AuditFilter(target_type="account", target_id=str(target_id)), limit=limit, offset=0
    )
    return [AuditEntryOut.model_validate(row) for row in rows]
