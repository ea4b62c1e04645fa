"""Alert rules: their CRUD (each change audited in its transaction) and their evaluation.

Evaluation runs in every API replica (the "alerts" background job) and on demand. Each rule is first
*claimed*: its `last_evaluated_at` is moved to the evaluation's time where it is still what the evaluator
read, in the transaction that then measures the figure, changes the state and writes the history row. A
second evaluator (another replica) updates nothing and skips the rule, so a transition fires exactly once.
Notifications leave after that commit: email through the outbox (delivered by the mail job, or at once when
a mailer is passed), webhooks as an HTTP POST with no transaction open; each outcome lands on the history
row, and one rule's failure never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
from pydantic import ValidationError
from sqlalchemy import Select, case, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.accounts.models import Account
from api.alerts.models import AlertEvent, AlertRule
from api.alerts.schemas import AlertEventOut, RuleIn, RuleOut, RulePatch, shown_target
from api.audit import service as audit
from api.audit.service import AuditContext
from api.catalogue import service as catalogue
from api.core.egress import Egress
from api.core.errors import AppError, Conflict, NotFound
from api.core.settings import Settings
from api.core.types import utcnow
from api.mail.models import EmailMessage
from api.mail.sender import Sender
from api.mail.service import MAX_ATTEMPTS, deliver_all, enqueue
from api.system import live

log = logging.getLogger("aiadmin.alerts")

WEBHOOK_TIMEOUT_SECONDS = 5.0
MAIL_KIND = "alert"
# The background job skips a rule evaluated within most of an interval (by another replica's tick).
DUE_FRACTION = 0.9
SIX_PLACES = Decimal("0.000001")
DEFINITION = (
    "name", "metric", "provider", "window_minutes", "threshold", "channel", "target", "enabled",
    "repeat_minutes", "notify_resolved",
)  # fmt: skip


class AlertRuleNotFound(NotFound):
    code = "alert_rule_not_found"


class AlertRuleExists(Conflict):
    code = "alert_rule_exists"


class InvalidAlertRule(AppError):
    status_code = 422
    code = "invalid_alert_rule"


class UnknownProvider(AppError):
    status_code = 422
    code = "unknown_provider"


# --- rules -------------------------------------------------------------------------------------------


def rule_out(rule: AlertRule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        metric=rule.metric,
        provider=rule.provider,
        window_minutes=rule.window_minutes,
        threshold=float(rule.threshold),
        channel=rule.channel,
        target=shown_target(rule.channel, rule.target),
        enabled=rule.enabled,
        repeat_minutes=rule.repeat_minutes,
        notify_resolved=rule.notify_resolved,
        state=rule.state,
        last_value=float(rule.last_value) if rule.last_value is not None else None,
        last_evaluated_at=rule.last_evaluated_at,
        last_notified_at=rule.last_notified_at,
        created_at=rule.created_at,
        created_by=rule.created_by,
        updated_at=rule.updated_at,
        updated_by=rule.updated_by,
    )


def _audited(rule: AlertRule) -> dict[str, Any]:
    """The definition as the audit log keeps it (a webhook URL masked, as everywhere it is shown)."""
    shown = {name: getattr(rule, name) for name in DEFINITION}
    shown["threshold"] = float(rule.threshold)
    shown["target"] = shown_target(rule.channel, rule.target)
    return shown


async def list_rules(session: AsyncSession) -> list[AlertRule]:
    return list((await session.scalars(select(AlertRule).order_by(AlertRule.id))).all())


async def get_rule(session: AsyncSession, rule_id: int) -> AlertRule:
    rule = await session.get(AlertRule, rule_id)
    if rule is None:
        raise AlertRuleNotFound(f"no alert rule {rule_id}")
    return rule


async def _check(
    session: AsyncSession, fields: RuleIn, *, rule_id: int | None, provider_changed: bool,
    target_changed: bool, egress: Egress,
) -> None:  # fmt: skip
    if target_changed and fields.channel == "webhook":  # not the cloud metadata service, loopback, the LAN
        await egress.check_url(fields.target, field="target")
    taken = select(AlertRule.id).where(AlertRule.name == fields.name)
    if rule_id is not None:
        taken = taken.where(AlertRule.id != rule_id)
    if await session.scalar(taken) is not None:
        raise AlertRuleExists(f"an alert rule is named {fields.name!r}")
    if provider_changed and fields.provider and not await catalogue.provider_exists(session, fields.provider):
        raise UnknownProvider(f"no provider {fields.provider!r}")


async def _write(session: AsyncSession, name: str, *, commit: bool) -> None:
    """Flush (or commit): a name a concurrent request took meanwhile is a conflict, not a 500."""
    try:
        await (session.commit() if commit else session.flush())
    except IntegrityError as exc:
        await session.rollback()
        raise AlertRuleExists(f"an alert rule is named {name!r}") from exc


async def create_rule(
    session: AsyncSession, actor: Account, fields: RuleIn, *, at: datetime, context: AuditContext,
    settings: Settings,
) -> AlertRule:  # fmt: skip
    await _check(
        session, fields, rule_id=None, provider_changed=True, target_changed=True, egress=Egress.of(settings)
    )
    rule = AlertRule(
        **fields.model_dump(),
        state="ok",
        created_at=at,
        created_by=actor.id,
        updated_at=at,
        updated_by=actor.id,
    )
    session.add(rule)
    await _write(session, fields.name, commit=False)  # the id, for the audit row
    await audit.write(
        session, actor, "alert_rule.create", target_type="alert_rule", target_id=str(rule.id), before={},
        after=_audited(rule), at=at, context=context,
    )  # fmt: skip
    await _write(session, fields.name, commit=True)
    return rule


async def update_rule(
    session: AsyncSession,
    actor: Account,
    rule_id: int,
    patch: RulePatch,
    *,
    at: datetime,
    context: AuditContext,
    settings: Settings,
) -> AlertRule:
    """Change the fields sent; the rule they make is checked whole. Its state is kept: the next evaluation
    measures the new definition (and resolves the alert if it no longer holds)."""
    rule = await get_rule(session, rule_id)
    changes = patch.model_dump(exclude_unset=True)
    try:
        fields = RuleIn.model_validate({**{name: getattr(rule, name) for name in DEFINITION}, **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidAlertRule(f"{where}: {error['msg']}" if where else error["msg"]) from None
    moved = (fields.channel, fields.target) != (rule.channel, rule.target)
    await _check(
        session, fields, rule_id=rule_id, provider_changed=fields.provider != rule.provider,
        target_changed=moved, egress=Egress.of(settings),
    )  # fmt: skip
    before = _audited(rule)
    for name, value in fields.model_dump().items():
        setattr(rule, name, value)
    rule.updated_at, rule.updated_by = at, actor.id
    await audit.write(
        session, actor, "alert_rule.update", target_type="alert_rule", target_id=str(rule_id), before=before,
        after=_audited(rule), at=at, context=context,
    )  # fmt: skip
    await _write(session, fields.name, commit=True)
    return rule


async def delete_rule(
    session: AsyncSession, actor: Account, rule_id: int, *, at: datetime, context: AuditContext
) -> None:
    """The rule goes; its history stays (under the rule's name)."""
    rule = await get_rule(session, rule_id)
    before = {**_audited(rule), "state": rule.state}
    await session.delete(rule)
    await audit.commit_audited(
        session, actor, "alert_rule.delete", target_type="alert_rule", target_id=str(rule_id), before=before,
        after={}, at=at, context=context,
    )  # fmt: skip


# --- history -----------------------------------------------------------------------------------------

# An email alert's delivery is the outbox row's: sent, failed for good, or still queued (maybe retrying).
_STATUS = case(
    (AlertEvent.email_id.is_(None), AlertEvent.delivery_status),
    (EmailMessage.sent_at.is_not(None), literal("sent")),
    (EmailMessage.attempts >= MAX_ATTEMPTS, literal("failed")),
    else_=literal("queued"),
)
HISTORY_COLUMNS = (
    "id", "occurred_at", "rule_id", "rule_name", "kind", "metric", "value", "threshold", "window_minutes",
    "channel", "target", "delivery_status", "delivery_error", "delivered_at",
)  # fmt: skip


def history_query(
    *,
    rule_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ids: list[int] | None = None,
) -> Select:
    """The history, newest first, in HISTORY_COLUMNS' order (for the list, the export and `evaluate`)."""
    query = select(
        AlertEvent.id,
        AlertEvent.occurred_at,
        AlertEvent.rule_id,
        AlertEvent.rule_name,
        AlertEvent.kind,
        AlertEvent.metric,
        AlertEvent.value,
        AlertEvent.threshold,
        AlertEvent.window_minutes,
        AlertEvent.channel,
        AlertEvent.target,
        _STATUS.label("delivery_status"),
        func.coalesce(AlertEvent.delivery_error, EmailMessage.last_error).label("delivery_error"),
        func.coalesce(AlertEvent.delivered_at, EmailMessage.sent_at).label("delivered_at"),
    ).outerjoin(EmailMessage, EmailMessage.id == AlertEvent.email_id)
    if rule_id is not None:
        query = query.where(AlertEvent.rule_id == rule_id)
    if kind is not None:
        query = query.where(AlertEvent.kind == kind)
    if since is not None:
        query = query.where(AlertEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AlertEvent.occurred_at < until)
    if ids is not None:
        query = query.where(AlertEvent.id.in_(ids))
    return query.order_by(AlertEvent.id.desc())


def history_row(row: Any) -> tuple:
    """One exported row: figures as numbers, a webhook URL masked."""
    values = dict(zip(HISTORY_COLUMNS, row, strict=True))
    values["value"], values["threshold"] = float(values["value"]), float(values["threshold"])
    values["target"] = shown_target(values["channel"], values["target"])
    return tuple(values[name] for name in HISTORY_COLUMNS)


def event_out(row: Any) -> AlertEventOut:
    return AlertEventOut(**dict(zip(HISTORY_COLUMNS, history_row(row), strict=True)))


async def history(
    session: AsyncSession, *, limit: int, offset: int, **filters: Any
) -> tuple[int, list[AlertEventOut]]:
    query = history_query(**filters)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.execute(query.limit(limit).offset(offset))).all()
    return total or 0, [event_out(row) for row in rows]


# --- evaluation --------------------------------------------------------------------------------------


async def measure(session: AsyncSession, rule: AlertRule, at: datetime) -> Decimal:
    """The rule's figure over the window that ends at `at`. No call in the window is an error rate and a
    latency of 0: nothing to alert on."""
    since = at - timedelta(minutes=rule.window_minutes)
    if rule.metric == "p95_latency_ms":
        value: Any = await live.latency_p95(session, since, at, provider=rule.provider) or 0
    else:
        calls = await live.call_counts(session, since, at, provider=rule.provider)
        value = {
            "error_rate": calls.error_rate or 0,
            "spend_usd": calls.cost_usd,
            "provider_failures": calls.errors,
        }[rule.metric]
    return Decimal(str(value)).quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def _transition(rule: AlertRule, value: Decimal, at: datetime) -> str | None:
    """ok → firing is "fired", firing → ok "resolved", firing still past a repeat interval "repeated"."""
    breached = value > rule.threshold
    if rule.state == "ok":
        return "fired" if breached else None
    if not breached:
        return "resolved"
    due = rule.repeat_minutes and (
        rule.last_notified_at is None or at - rule.last_notified_at >= timedelta(minutes=rule.repeat_minutes)
    )
    return "repeated" if due else None


def _describe(rule: AlertRule, kind: str, value: Decimal) -> str:
    scope = f" ({rule.provider})" if rule.provider else ""
    relation = "above" if kind != "resolved" else "back to at most"
    return (
        f"aiadmin alert {'RESOLVED' if kind == 'resolved' else 'FIRING'}: {rule.name}: {rule.metric}{scope} "
        f"is {value.normalize():f}, {relation} {rule.threshold.normalize():f}, "
        f"over the last {rule.window_minutes} minutes"
    )


def _payload(rule: AlertRule, event: AlertEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "state": rule.state,
        "at": event.occurred_at.isoformat(),
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "metric": rule.metric,
            "provider": rule.provider,
            "window_minutes": rule.window_minutes,
            "threshold": float(rule.threshold),
        },
        "value": float(event.value),
        "threshold": float(event.threshold),
        "text": _describe(rule, event.kind, event.value),
    }


@dataclass(frozen=True, slots=True)
class _Webhook:
    event_id: int
    url: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    event_id: int | None = None
    webhook: _Webhook | None = None
    mailed: bool = False


@dataclass(frozen=True, slots=True)
class Evaluation:
    at: datetime
    evaluated: int  # rules this evaluator claimed and measured
    event_ids: list[int]  # the history rows it wrote
    failed_rules: list[int]  # rules whose evaluation raised (logged; the others went on)


async def evaluate_rule(
    sessionmaker: async_sessionmaker, rule_id: int, seen: datetime | None, at: datetime
) -> RuleOutcome | None:
    """Claim, measure, move the state and write the history row in one transaction; None when another
    evaluator claimed the rule first (or it was disabled or deleted meanwhile)."""
    async with sessionmaker() as session:
        claimed = await session.execute(
            update(AlertRule)
            .where(
                AlertRule.id == rule_id,
                AlertRule.enabled.is_(True),
                AlertRule.last_evaluated_at.is_not_distinct_from(seen),
            )
            .values(last_evaluated_at=at)
            .returning(AlertRule.id)
        )
        if claimed.one_or_none() is None:
            await session.rollback()
            return None
        rule = await session.get(AlertRule, rule_id)
        value = await measure(session, rule, at)
        kind = _transition(rule, value, at)
        rule.last_value = value
        if kind is None:
            await session.commit()
            return RuleOutcome()
        rule.state = "ok" if kind == "resolved" else "firing"
        notify = kind != "resolved" or rule.notify_resolved
        if notify:
            rule.last_notified_at = at
        event = AlertEvent(
            rule_id=rule.id, rule_name=rule.name, occurred_at=at, kind=kind, metric=rule.metric, value=value,
            threshold=rule.threshold, window_minutes=rule.window_minutes, channel=rule.channel,
            target=rule.target, delivery_status="skipped" if not notify else "pending",
        )  # fmt: skip
        session.add(event)
        if notify and rule.channel == "email":
            event.email_id = await _enqueue_mail(session, rule, kind, value, at)
            event.delivery_status = "queued"
        await session.flush()
        webhook = (
            _Webhook(event.id, rule.target, _payload(rule, event))
            if notify and rule.channel == "webhook"
            else None
        )
        await session.commit()
        return RuleOutcome(event_id=event.id, webhook=webhook, mailed=notify and rule.channel == "email")


async def _enqueue_mail(
    session: AsyncSession, rule: AlertRule, kind: str, value: Decimal, at: datetime
) -> int:
    """The alert mail, in the outbox (in this transaction); its id, for the history's delivery status."""
    text = _describe(rule, kind, value)
    body = (
        f"{text}.\n\nRule #{rule.id} ({rule.name}): {rule.metric} over {rule.window_minutes} minutes, "
        f"threshold {rule.threshold.normalize():f}.\nEvaluated at {at.isoformat()}.\n"
    )
    subject = f"[aiadmin] {'Resolved' if kind == 'resolved' else 'Alert'}: {rule.name}"
    message = enqueue(session, to=rule.target, subject=subject[:300], body=body, kind=MAIL_KIND, at=at)
    await session.flush()
    return message.id


async def _post_webhook(
    sessionmaker: async_sessionmaker, http: aiohttp.ClientSession, hook: _Webhook
) -> None:
    """POST the alert; the answer (2xx, or why not) goes on the history row, in a transaction of its own."""
    error: str | None = None
    try:
        async with http.post(hook.url, json=hook.payload, allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                error = f"HTTP {response.status} {response.reason or ''}".strip()
    except Exception as exc:  # refused, timed out, bad TLS, a malformed answer: all mean "not delivered"
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if error:
        log.warning("alert %s: webhook not delivered: %s", hook.event_id, error)
    async with sessionmaker() as session:
        await session.execute(
            update(AlertEvent)
            .where(AlertEvent.id == hook.event_id)
            .values(
                delivery_status="failed" if error else "sent",
                delivery_error=error[:500] if error else None,
                delivered_at=None if error else utcnow(),
            )
        )
        await session.commit()


async def evaluate_due(
    sessionmaker: async_sessionmaker,
    settings: Settings,
    mailer: Sender | None,
    at: datetime,
    *,
    force: bool = False,
) -> Evaluation:
    """Evaluate every enabled rule that is due at `at` (all of them with `force`: the "evaluate now" button),
    then send the webhooks, and the mails at once when a mailer is given (else the mail job sends them)."""
    if force:
        due = AlertRule.last_evaluated_at < at
    else:
        due = AlertRule.last_evaluated_at <= at - timedelta(
            seconds=settings.alerts_interval_seconds * DUE_FRACTION
        )
    async with sessionmaker() as session:
        candidates = (
            await session.execute(
                select(AlertRule.id, AlertRule.last_evaluated_at)
                .where(AlertRule.enabled.is_(True), AlertRule.last_evaluated_at.is_(None) | due)
                .order_by(AlertRule.id)
            )
        ).all()
    evaluated, event_ids, failed, webhooks, mailed = 0, [], [], [], False
    for rule_id, seen in candidates:
        try:
            outcome = await evaluate_rule(sessionmaker, rule_id, seen, at)
        except Exception:  # one broken rule must not keep the others from being evaluated
            log.exception("alert rule %s: evaluation failed", rule_id)
            failed.append(rule_id)
            continue
        if outcome is None:
            continue
        evaluated += 1
        if outcome.event_id is not None:
            event_ids.append(outcome.event_id)
        if outcome.webhook is not None:
            webhooks.append(outcome.webhook)
        mailed = mailed or outcome.mailed
    if webhooks:
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
        headers = {"User-Agent": "aiadmin-alerts"}
        # Connections to allowed addresses only: a webhook's host may resolve elsewhere than when saved.
        connector = Egress.of(settings).connector()
        async with aiohttp.ClientSession(timeout=timeout, headers=headers, connector=connector) as http:
            results = await asyncio.gather(
                *(_post_webhook(sessionmaker, http, hook) for hook in webhooks), return_exceptions=True
            )
        for hook, result in zip(webhooks, results, strict=True):
            if isinstance(result, Exception):  # the outcome could not be recorded: the row stays "pending"
                log.error("alert %s: webhook outcome not recorded", hook.event_id, exc_info=result)
    if mailed and mailer is not None:
        await deliver_all(sessionmaker, mailer)
    return Evaluation(at=at, evaluated=evaluated, event_ids=event_ids, failed_rules=failed)


async def events(session: AsyncSession, ids: list[int]) -> list[AlertEventOut]:
    if not ids:
        return []
    return [event_out(row) for row in (await session.execute(history_query(ids=ids))).all()]


async def evaluate_now(
    session: AsyncSession, sessionmaker: async_sessionmaker, settings: Settings, mailer: Sender | None,
    staff: Account, *, at: datetime, context: AuditContext,
) -> tuple[Evaluation, list[AlertEventOut]]:  # fmt: skip
    """The "evaluate now" button: every enabled rule, at once; what fired or resolved is sent, and the press
    is audited. The rules are evaluated in transactions of their own, so the request's read ends first."""
    await session.commit()
    result = await evaluate_due(sessionmaker, settings, mailer, at, force=True)
    fired = await events(session, result.event_ids)
    await audit.commit_audited(
        session, staff, "alert.evaluate", target_type="alert_rule", target_id="*", before={},
        after={
            "evaluated": result.evaluated,
            "events": [{"id": e.id, "rule_id": e.rule_id, "kind": e.kind} for e in fired],
            "failed_rules": result.failed_rules,
        },
        at=at, context=context,
    )  # fmt: skip
    return result, fired
