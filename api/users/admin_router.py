"""`/api/v1/admin/users`: find and look at accounts (users:read); block, unblock, change the plan, adjust
the balance (users:write), each written to the audit log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.accounts.errors import UnknownPlan
from api.audit import service as audit
from api.audit.schemas import AuditEntryOut
from api.auth.deps import AuditCtx, RequestCtx, UsersImpersonator, UsersReader, UsersWriter
from api.billing.service import InsufficientBalance
from api.core import exports
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr
from api.users import admin
from api.users.admin import (
    AccountDeleted,
    AlreadyInThatState,
    CannotActOnSelf,
    SortColumn,
    StaffTargetRequiresAdmin,
)

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin: users"])

READ_ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
WRITE_ERRORS = responses(
    NotAuthenticated, Forbidden, AccountBlocked, NotFound, CannotActOnSelf, StaffTargetRequiresAdmin,
    AlreadyInThatState, AccountDeleted,
)  # fmt: skip
Reason = Annotated[SafeStr, Field(min_length=3, max_length=500, description="why (kept in the audit log)")]


class AdminAccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    plan_code: str
    # When the plan the account bought ends (then the default plan returns); null: never.
    plan_expires_at: datetime | None = None
    country: str | None
    is_blocked: bool
    balance: Decimal
    created_at: datetime
    last_login_at: datetime | None


class AccountPage(BaseModel):
    total: int
    items: list[AdminAccountOut]


class ProfileOut(BaseModel):
    account: AdminAccountOut
    stats: dict[str, Any]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Annotated[str, Field(min_length=1, max_length=32)]
    reason: Annotated[SafeStr | None, Field(max_length=500)] = None


class BalanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Annotated[Decimal, Field(gt=-(10**9), lt=10**9, max_digits=16, decimal_places=6)]
    reason: Reason


class ImpersonationOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int
    read_only: bool = True


class BalanceOut(BaseModel):
    balance: Decimal


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: admin.BulkAction
    user_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=admin.BULK_MAX)]
    reason: Reason
    plan: Annotated[str | None, Field(min_length=1, max_length=32, description="for change_plan")] = None

    @model_validator(mode="after")
    def _consistent(self) -> BulkIn:
        if len(set(self.user_ids)) != len(self.user_ids):
            raise ValueError("user_ids must be distinct")
        if (self.action == "change_plan") != (self.plan is not None):
            raise ValueError("plan is required with change_plan and only with it")
        return self


class BulkOut(BaseModel):
    bulk: str = Field(description="the reference every audit row and event of this action carries")
    changed: int


async def _filters(
    q: Annotated[str | None, Query(max_length=320, description="part of the email, or the id")] = None,
    plan: Annotated[str | None, Query(max_length=32)] = None,
    status: Literal["active", "blocked"] | None = None,
    role: Literal["user", "admin", "moderator", "analyst", "viewer"] | None = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
    last_login_from: date | None = None,
    last_login_to: date | None = None,
    balance_min: Annotated[Decimal | None, Query(ge=0, le=10**12)] = None,
    balance_max: Annotated[Decimal | None, Query(ge=0, le=10**12)] = None,
) -> admin.UserFilter:
    return admin.UserFilter(
        q, plan, status, role, country, registered_from, registered_to, last_login_from, last_login_to,
        balance_min, balance_max,
    )  # fmt: skip


Filters = Annotated[admin.UserFilter, Depends(_filters)]


@router.get("", responses=READ_ERRORS)
async def list_users(
    _staff: UsersReader,
    session: SessionDep,
    filters: Filters,
    sort: SortColumn = "created_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AccountPage:
    """Accounts that match every filter given, sorted on any column, a page at a time, with the total."""
    total, rows = await admin.search(
        session, filters, sort=sort, descending=order == "desc", limit=limit, offset=offset
    )
    return AccountPage(total=total, items=[AdminAccountOut.model_validate(row) for row in rows])


@router.get("/export", responses={**READ_ERRORS, **exports.LIST_EXPORT}, response_class=Response)
async def export_users(
    staff: UsersReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    filters: Filters,
    format: exports.Format = "csv",
    sort: SortColumn = "created_at",
    order: Literal["asc", "desc"] = "desc",
):
    """Every account that matches the list's filters (no page), as CSV (streamed) or XLSX, with flat
    memory."""
    query = admin.export_query(filters, sort=sort, descending=order == "desc")
    return await audit.export(
        request, session, staff, audit_ctx, format, query, list(admin.EXPORT_COLUMNS), filename="users"
    )


@router.post("/bulk", responses={**WRITE_ERRORS, **responses(UnknownPlan)})
async def bulk(
    staff: UsersWriter, session: SessionDep, body: BulkIn, ctx: RequestCtx, audit_ctx: AuditCtx
) -> BulkOut:
    """Block, unblock or change the plan of up to 100 accounts with one reason, all or nothing: each account
    meets the single action's rules and gets its own audit row; the first refusal (its status and code,
    the account named in the message and `account_id`) leaves every account as it was."""
    reference = await admin.bulk(
        session, staff, body.user_ids, action=body.action, reason=body.reason, plan=body.plan, at=utcnow(),
        ctx=ctx, context=audit_ctx,
    )  # fmt: skip
    return BulkOut(bulk=reference, changed=len(body.user_ids))


@router.get("/{account_id}", responses=READ_ERRORS)
async def profile(_staff: UsersReader, session: SessionDep, account_id: uuid.UUID) -> ProfileOut:
    """The account, and its lifetime usage, favourite models and roles, and the last 30 days' activity."""
    account = await admin.get(session, account_id)
    stats = await admin.stats(session, account_id, utcnow())
    return ProfileOut(account=AdminAccountOut.model_validate(account), stats=stats)


@router.get("/{account_id}/history", responses=READ_ERRORS)
async def account_history(
    _staff: UsersReader, session: SessionDep, account_id: uuid.UUID
) -> list[AuditEntryOut]:
    """What staff did to this account (blocks and unblocks with their reasons, plan and balance changes)."""
    await admin.get(session, account_id)
    return await admin.history(session, account_id)


async def _set_blocked(staff, session, account_id, body: ReasonIn, ctx, audit_ctx, *, blocked: bool):
    account = await admin.set_blocked(
        session, staff, account_id, blocked=blocked, reason=body.reason, at=utcnow(), ctx=ctx,
        context=audit_ctx,
    )  # fmt: skip
    return AdminAccountOut.model_validate(account)


@router.post("/{account_id}/block", responses=WRITE_ERRORS)
async def block(
    staff: UsersWriter, session: SessionDep, account_id: uuid.UUID, body: ReasonIn, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> AdminAccountOut:  # fmt: skip
    """Block the account: its sessions (access and refresh tokens) and API keys are revoked at once; an
    unblock revives none of them (the user signs in again)."""
    return await _set_blocked(staff, session, account_id, body, ctx, audit_ctx, blocked=True)


@router.post("/{account_id}/unblock", responses=WRITE_ERRORS)
async def unblock(
    staff: UsersWriter, session: SessionDep, account_id: uuid.UUID, body: ReasonIn, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> AdminAccountOut:  # fmt: skip
    return await _set_blocked(staff, session, account_id, body, ctx, audit_ctx, blocked=False)


@router.post("/{account_id}/plan", responses={**WRITE_ERRORS, **responses(UnknownPlan)})
async def change_plan(
    staff: UsersWriter, session: SessionDep, account_id: uuid.UUID, body: PlanIn, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> AdminAccountOut:  # fmt: skip
    """Move the account to another plan (its limits and model tiers apply at its next request). A plan staff
    assign does not end: the end of a plan the account bought is cleared (so the plan it holds is a change
    too while it has an end)."""
    account = await admin.change_plan(
        session, staff, account_id, plan=body.plan, reason=body.reason, at=utcnow(), ctx=ctx,
        context=audit_ctx,
    )  # fmt: skip
    return AdminAccountOut.model_validate(account)


@router.post("/{account_id}/balance", responses={**WRITE_ERRORS, **responses(InsufficientBalance)})
async def adjust_balance(
    staff: UsersWriter, session: SessionDep, account_id: uuid.UUID, body: BalanceIn, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> BalanceOut:  # fmt: skip
    """Add credits (or take them, with a negative amount; never below zero): a ledger adjustment."""
    balance = await admin.adjust_balance(
        session, staff, account_id, amount=body.amount, reason=body.reason, at=utcnow(), ctx=ctx,
        context=audit_ctx,
    )  # fmt: skip
    return BalanceOut(balance=balance)


@router.post(
    "/{account_id}/impersonate",
    responses={**WRITE_ERRORS, **responses(admin.CannotImpersonateStaff)},
)
async def impersonate(
    staff: UsersImpersonator, session: SessionDep, settings: SettingsDep, account_id: uuid.UUID,
    body: ReasonIn, ctx: RequestCtx, audit_ctx: AuditCtx,
) -> ImpersonationOut:  # fmt: skip
    """A 15-minute, read-only access token as the user (no refresh token); every request made with it is
    written to the audit log in the admin's name."""
    token = await admin.impersonate(
        session, settings, staff.account, staff.session_id, account_id, reason=body.reason, at=utcnow(),
        ctx=ctx, context=audit_ctx,
    )  # fmt: skip
    return ImpersonationOut(access_token=token.token, expires_in=token.expires_in)
