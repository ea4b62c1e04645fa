"""Notifications: `/api/v1/admin/notifications` for staff (broadcasts, rules, the delivery log; permission
notifications:send) and `/api/v1/me/notifications`, each user's in-app inbox."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response, status

from api.accounts.errors import UnknownPlan
from api.audit import service as audit
from api.auth.deps import AuditCtx, CurrentAccount, NotificationsSender
from api.core import exports
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, AppError, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import Instant
from api.mail.service import after_response
from api.notifications import service
from api.notifications.schemas import (
    AudienceOut,
    BroadcastIn,
    BroadcastOut,
    DeliveryOut,
    DeliveryPage,
    InboxOut,
    NotificationOut,
    RuleIn,
    RuleOut,
    SegmentIn,
)
from api.notifications.service import DeliveryFilter, EmptySegment, UnknownRule
from api.notifications.templates import PLACEHOLDERS, TEMPLATE_ERRORS

router = APIRouter(prefix="/api/v1/admin/notifications", tags=["admin: notifications"])
me_router = APIRouter(prefix="/api/v1/me/notifications", tags=["me"])

ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
Status = Literal["delivered", "read", "queued", "sent", "retrying", "failed"]


class NoThreshold(AppError):
    status_code = 422
    code = "no_threshold"


@router.get("/audience", responses=ERRORS)
async def audience(
    _staff: NotificationsSender, session: SessionDep, segment: Annotated[SegmentIn, Query()]
) -> AudienceOut:
    """How many users a broadcast to this segment would reach (end users who are not blocked)."""
    return AudienceOut(recipients=await service.audience_size(session, segment.segment(), utcnow()))


@router.post(
    "/broadcasts",
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, **responses(EmptySegment, *TEMPLATE_ERRORS, UnknownPlan)},
)
async def send_broadcast(
    staff: NotificationsSender,
    session: SessionDep,
    settings: SettingsDep,
    body: BroadcastIn,
    audit_ctx: AuditCtx,
    request: Request,
    background: BackgroundTasks,
) -> BroadcastOut:
    """Send to every user of the segment now: in-app at once, by email through the outbox. `{email}`,
    `{plan}` and `{app_url}` in the texts are filled in per recipient."""
    sent = await service.send_broadcast(
        session,
        settings,
        staff,
        segment=body.segment.segment(),
        channels=list(dict.fromkeys(body.channels)),
        templates=body.texts.as_dict(),
        at=utcnow(),
        context=audit_ctx,
    )
    if "email" in sent.channels:
        after_response(background, request.app.state)
    return BroadcastOut.model_validate(sent)


@router.get("/broadcasts", responses=ERRORS)
async def list_broadcasts(
    _staff: NotificationsSender,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[BroadcastOut]:
    """Newest first."""
    return [
        BroadcastOut.model_validate(b) for b in await service.broadcasts(session, limit=limit, offset=offset)
    ]


def _rule_out(rule) -> RuleOut:
    return RuleOut.model_validate(rule).model_copy(update={"placeholders": sorted(PLACEHOLDERS[rule.code])})


@router.get("/rules", responses=ERRORS)
async def list_rules(_staff: NotificationsSender, session: SessionDep) -> list[RuleOut]:
    """The automatic notifications: welcome (on registration), quota_exhausted (on the first refusal of a
    quota window), balance_low (when a charge takes the balance below the threshold)."""
    return [_rule_out(rule) for rule in await service.rules(session)]


@router.put("/rules/{code}", responses={**ERRORS, **responses(UnknownRule, *TEMPLATE_ERRORS, NoThreshold)})
async def update_rule(
    staff: NotificationsSender,
    session: SessionDep,
    code: Annotated[str, Path(max_length=32)],
    body: RuleIn,
    audit_ctx: AuditCtx,
    request: Request,
) -> RuleOut:
    """Turn a rule on or off, choose its channels, its texts per locale, and (balance_low) its threshold."""
    changes = body.model_dump(exclude_unset=True, exclude={"texts"})
    if body.texts is not None:
        changes["templates"] = body.texts.as_dict()
    if changes.get("threshold") is not None and code != "balance_low":
        raise NoThreshold("only the balance_low rule has a threshold")
    # The gateway's catalogue snapshot holds balance_low's threshold.
    refresh = request.app.state.gateway.catalogue.invalidate
    rule = await service.update_rule(
        session, staff, code, changes=changes, at=utcnow(), context=audit_ctx, after_commit=refresh
    )
    return _rule_out(rule)


async def _delivery_filter(
    account_id: uuid.UUID | None = None,
    channel: Literal["email", "in_app"] | None = None,
    status: Status | None = None,
    broadcast_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> DeliveryFilter:
    return DeliveryFilter(account_id, channel, status, broadcast_id, rule, since, until)


DeliveryFilters = Annotated[DeliveryFilter, Depends(_delivery_filter)]


@router.get("/deliveries", responses=ERRORS)
async def deliveries(
    _staff: NotificationsSender,
    session: SessionDep,
    filters: DeliveryFilters,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeliveryPage:
    """The delivery log, newest first: each notification sent, by channel, with its delivery state
    (in-app: delivered or read; email: queued, sent, retrying or failed, with the last error)."""
    total, rows = await service.deliveries_page(session, filters, limit=limit, offset=offset)
    return DeliveryPage(total=total, items=[DeliveryOut.model_validate(r) for r in rows])


@router.get("/deliveries/export", responses={**ERRORS, **exports.LIST_EXPORT}, response_class=Response)
async def export_deliveries(
    staff: NotificationsSender,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    filters: DeliveryFilters,
    format: exports.Format = "csv",
):
    """The whole delivery log that matches, as CSV (streamed) or XLSX."""
    header = list(service.DELIVERY_COLUMNS)
    return await audit.export(
        request, session, staff, audit_ctx, format, service.deliveries(filters), header, filename="deliveries"
    )


# ---------------------------------------------------------------- the user's inbox


@me_router.get("", responses=responses(NotAuthenticated, AccountBlocked))
async def my_notifications(
    account: CurrentAccount,
    session: SessionDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InboxOut:
    """The in-app notifications, newest first, with how many are unread."""
    total, unread_count, items = await service.inbox(
        session, account.id, unread_only=unread, limit=limit, offset=offset
    )
    return InboxOut(
        total=total, unread=unread_count, items=[NotificationOut.model_validate(n) for n in items]
    )


@me_router.post("/read-all", responses=responses(NotAuthenticated, AccountBlocked))
async def read_all(account: CurrentAccount, session: SessionDep) -> dict[str, int]:
    return {"marked": await service.mark_read(session, account.id, None, utcnow())}


@me_router.post("/{notification_id}/read", responses=responses(NotAuthenticated, AccountBlocked, NotFound))
async def read_one(
    account: CurrentAccount, session: SessionDep, notification_id: Annotated[int, Path(ge=1, le=2**53)]
) -> dict[str, int]:
    return {"marked": await service.mark_read(session, account.id, notification_id, utcnow())}
