"""Staff actions from the command line: bulk plan change and bulk notification for a segment, and exports
of the admin lists. Each runs as a named staff account (`--actor`), checked against the same permission
table as the API and written to the audit log in its name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account, Plan
from api.alerts import service as alerts
from api.audit import service as audit
from api.audit.service import AuditContext
from api.auth.permissions import Permission, allowed
from api.core.errors import AppError, Forbidden, NotFound
from api.events.outbox import RequestContext
from api.notifications import service as notifications
from api.notifications.service import Segment
from api.security import repository as security_log
from api.system import error_log
from api.users import admin


class BadSegment(AppError):
    code = "bad_segment"


def parse_segment(text: str) -> Segment:
    """`all`, `plan:CODE`, `country:CC` or `inactive:DAYS`."""
    kind, _, value = text.strip().partition(":")
    if kind == "all" and not value:
        return Segment()
    if kind == "plan" and value:
        return Segment("plan", plan=value)
    if kind == "country" and len(value) == 2 and value.isalpha():
        return Segment("country", country=value.upper())
    if kind == "inactive" and value.isdigit() and 1 <= int(value) <= 3650:
        return Segment("inactive", inactive_days=int(value))
    raise BadSegment(f"segment {text!r}: use all, plan:CODE, country:CC or inactive:DAYS (1-3650)")


async def acting_staff(session: AsyncSession, email: str, permission: Permission) -> Account:
    """The staff account the command acts as, if it may (blocked or lacking the permission: refused)."""
    account = await session.scalar(select(Account).where(Account.email == email.strip().lower()))
    if account is None:
        raise NotFound(f"no account {email!r}")
    if account.is_blocked or not allowed(account.role, permission) or account.role == "user":
        raise Forbidden(f"{account.email} ({account.role}) may not do this: it needs {permission}")
    return account


def cli_contexts() -> tuple[RequestContext, AuditContext]:
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    return RequestContext(client="cli", request_id=request_id), AuditContext(ip=None, request_id=request_id)


async def change_plan_for_segment(
    session: AsyncSession,
    actor: Account,
    segment: Segment,
    *,
    plan: str,
    reason: str,
    at: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Move every user of the segment to `plan` through the same service call as the API (its event and
    audit row, one transaction per account); (moved, already on the plan)."""
    if await session.get(Plan, plan) is None:
        raise admin.UnknownPlan(f"there is no plan {plan!r}")
    members = select(Account.id).where(*segment.where(at))
    ids = list((await session.scalars(members.where(Account.plan_code != plan).order_by(Account.id))).all())
    already = len((await session.scalars(members.where(Account.plan_code == plan))).all())
    await session.commit()
    ctx, context = cli_contexts()
    moved = 0
    for done, account_id in enumerate(ids, 1):
        try:
            await admin.change_plan(
                session, actor, account_id, plan=plan, reason=reason, at=at, ctx=ctx, context=context
            )
            moved += 1
        except admin.AlreadyInThatState:  # moved meanwhile by someone else
            await session.rollback()
            await session.refresh(actor)
            already += 1
        if progress:
            progress(done, len(ids))
    return moved, already


@dataclass(frozen=True)
class ExportableList:
    permission: Permission
    query: Callable[[], Select]
    header: tuple[str, ...]
    row: Callable = tuple


LISTS: dict[str, ExportableList] = {
    "users": ExportableList(
        Permission.USERS_READ,
        lambda: admin.export_query(admin.UserFilter(), sort="created_at", descending=True),
        admin.EXPORT_COLUMNS,
    ),
    "audit": ExportableList(
        Permission.AUDIT_READ, lambda: audit.log_query(audit.AuditFilter(), columns=True), audit.COLUMNS
    ),
    "security-events": ExportableList(
        Permission.SECURITY_READ, lambda: security_log.events_query(columns=True), security_log.COLUMNS
    ),
    "deliveries": ExportableList(
        Permission.NOTIFICATIONS_SEND,
        lambda: notifications.deliveries(notifications.DeliveryFilter()),
        tuple(notifications.DELIVERY_COLUMNS),
    ),
    "errors": ExportableList(
        Permission.HEALTH_READ, lambda: error_log.errors_query(columns=True), error_log.COLUMNS
    ),
    "alerts": ExportableList(
        Permission.HEALTH_READ, alerts.history_query, alerts.HISTORY_COLUMNS, alerts.history_row
    ),
}
