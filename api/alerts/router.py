"""`/api/v1/admin/alerts`: alert rules on error rate, p95 latency, spend and provider failures, changed by
admins (alerts:write, each change audited) and read with their history by whoever sees the system's health
(health:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from api.alerts import service
from api.alerts.schemas import EvaluationOut, HistoryPage, Kind, RuleIn, RuleOut, RulePatch
from api.alerts.service import AlertRuleExists, AlertRuleNotFound, InvalidAlertRule, UnknownProvider
from api.audit import service as audit
from api.auth.deps import AlertsWriter, AuditCtx, HealthReader
from api.core import exports
from api.core.deps import SessionDep, SettingsDep
from api.core.egress import AddressNotAllowed
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.types import utcnow
from api.core.validation import Instant

router = APIRouter(prefix="/api/v1/admin/alerts", tags=["admin: alerts"])

READ_ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
RULE_ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, AlertRuleNotFound)
WRITE_ERRORS = responses(
    NotAuthenticated, Forbidden, AccountBlocked, AlertRuleNotFound, AlertRuleExists, InvalidAlertRule,
    UnknownProvider, AddressNotAllowed,
)  # fmt: skip
RuleId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/rules", responses=READ_ERRORS)
async def list_rules(_staff: HealthReader, session: SessionDep) -> list[RuleOut]:
    """Every rule with its state (ok or firing) and last figure; webhook URLs masked."""
    return [service.rule_out(rule) for rule in await service.list_rules(session)]


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        NotAuthenticated, Forbidden, AccountBlocked, AlertRuleExists, UnknownProvider, AddressNotAllowed
    ),
)
async def create_rule(
    staff: AlertsWriter, session: SessionDep, settings: SettingsDep, body: RuleIn, audit_ctx: AuditCtx
) -> RuleOut:
    """A new rule, in state ok; the next evaluation measures it. A webhook on a network the server must not
    call (the cloud metadata service, loopback, the LAN: api/core/egress.py) is 400 `address_not_allowed`."""
    rule = await service.create_rule(session, staff, body, at=utcnow(), context=audit_ctx, settings=settings)
    return service.rule_out(rule)


@router.get("/rules/{rule_id}", responses=RULE_ERRORS)
async def get_rule(_staff: HealthReader, session: SessionDep, rule_id: RuleId) -> RuleOut:
    return service.rule_out(await service.get_rule(session, rule_id))


@router.patch("/rules/{rule_id}", responses=WRITE_ERRORS)
async def update_rule(
    staff: AlertsWriter, session: SessionDep, settings: SettingsDep, rule_id: RuleId, body: RulePatch,
    audit_ctx: AuditCtx,
) -> RuleOut:  # fmt: skip
    """Change the fields sent (`enabled: false` pauses the rule). A webhook's URL, shown masked, is only
    replaced when sent."""
    rule = await service.update_rule(
        session, staff, rule_id, body, at=utcnow(), context=audit_ctx, settings=settings
    )
    return service.rule_out(rule)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=RULE_ERRORS)
async def delete_rule(
    staff: AlertsWriter, session: SessionDep, rule_id: RuleId, audit_ctx: AuditCtx
) -> Response:
    """The rule goes; its history stays, under its name."""
    await service.delete_rule(session, staff, rule_id, at=utcnow(), context=audit_ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/evaluate", responses=READ_ERRORS)
async def evaluate(
    staff: AlertsWriter, session: SessionDep, request: Request, audit_ctx: AuditCtx
) -> EvaluationOut:
    """Evaluate every enabled rule now (as the background job does each interval), send what fired or
    resolved, and say how each notification fared."""
    state = request.app.state
    at = utcnow()
    result, events = await service.evaluate_now(
        session, state.db.sessionmaker, state.settings, state.mailer, staff, at=at, context=audit_ctx
    )
    return EvaluationOut(at=at, evaluated=result.evaluated, events=events)


@router.get("/history", responses=READ_ERRORS)
async def history(
    _staff: HealthReader,
    session: SessionDep,
    rule_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    kind: Kind | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HistoryPage:
    """What fired, repeated and resolved, newest first, and whether each notification reached its target
    (an email's status follows its outbox row: queued until the mail job has sent it)."""
    total, items = await service.history(
        session, rule_id=rule_id, kind=kind, since=since, until=until, limit=limit, offset=offset
    )
    return HistoryPage(total=total, items=items)


@router.get("/history/export", responses={**READ_ERRORS, **exports.LIST_EXPORT}, response_class=Response)
async def export_history(
    staff: HealthReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    format: exports.Format = "csv",
    rule_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    kind: Kind | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
):
    """The whole filtered history (no page), as CSV (streamed) or XLSX."""
    query = service.history_query(rule_id=rule_id, kind=kind, since=since, until=until)
    return await audit.export(
        request, session, staff, audit_ctx, format, query, list(service.HISTORY_COLUMNS), service.history_row,
        filename="alert_history",
    )  # fmt: skip
