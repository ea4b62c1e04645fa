"""Reservations whose call never settled are refunded in full, once.

A paid completion commits its reservation (transaction 1) before calling the provider and settles it
(transaction 2) after. If the database goes away in between, or the process dies, the settlement is
lost: the reservation would hold the worst-case cost for ever. The client was answered 503 (or nothing),
so the call counts as failed: this job, run by every API process (api/core/periodic.py), refunds each
reservation older than `reservation_grace_minutes` that has no other ledger row with its reference (a
settlement or a refund) and no success event (a call that cost exactly its reservation), gives back the
request it took from the day's quota, and records `balance.refunded` and `llm.call_failed` with the
error `settlement_lost`. It gives back the tokens reserved with it, too.

Exactly once: the sweep advances a watermark (`app_settings.reservations_swept_until`) that it locks
first, so two processes never sweep at once, and a reservation is refunded only if the sweep claims it
(`reservation_settlements`, as the call's own settlement or refund does): whoever claims it first ends
it, the other changes nothing. A call has a time limit (`call_max_seconds`, plus `drain_seconds` for a
stream whose client left) below the grace period, so that a late settlement does not happen; if it did,
it would find the reservation claimed and change nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.billing import repository as repo
from api.billing import service as billing
from api.billing.models import LedgerEntry
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.quotas import repository as quotas
from api.quotas.windows import DAILY_REQUESTS, token_counts, utc_day

log = logging.getLogger("aiadmin.billing")

WATERMARK = "reservations_swept_until"
SETTLEMENT_LOST = "settlement_lost"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


async def refund_lost_reservations(sessionmaker: async_sessionmaker, settings: Settings, at: datetime) -> int:
    """Sweep the reservations made since the last sweep and before the grace period; the refunds made."""
    cutoff = at - timedelta(minutes=settings.reservation_grace_minutes)
    async with sessionmaker() as session:
        mark = await repo.locked_setting(session, WATERMARK, {"until": _EPOCH.isoformat()}, at)
        since = datetime.fromisoformat(mark.value["until"])
        if since >= cutoff:
            await session.rollback()
            return 0
        candidates = await repo.unsettled_charges(session, since, cutoff)
        reserved = [entry for entry in candidates if entry.details.get("reserved") and entry.reference]
        # A call settled at exactly its reservation adds no ledger row: its success event tells.
        succeeded = await repo.succeeded_calls(session, [uuid.UUID(entry.reference) for entry in reserved])
        lost = [
            entry
            for entry in reserved
            if uuid.UUID(entry.reference) not in succeeded
            and await billing.claim_reservation(session, entry.reference, entry.account_id, "lost", at)
        ]
        for entry in lost:
            await _refund(session, entry, at)
        mark.value, mark.updated_at = {"until": cutoff.isoformat()}, at
        await session.commit()
    if lost:
        log.warning("refunded %d reservations whose settlement was lost", len(lost))
    return len(lost)


async def _refund(session: AsyncSession, reservation: LedgerEntry, at: datetime) -> None:
    account = await repo.account(session, reservation.account_id)
    credits = -reservation.amount
    # The rows in the order a call's `take` locks them: the tokens, the day's request, then the account.
    if tokens := reservation.details.get("tokens"):
        await quotas.add(session, reservation.account_id, token_counts(-tokens, reservation.created_at))
    await quotas.release(session, reservation.account_id, DAILY_REQUESTS, utc_day(reservation.created_at))
    await billing.move(
        session,
        reservation.account_id,
        credits,
        kind="refund",
        at=at,
        reference=reservation.reference,
        details={"reason": SETTLEMENT_LOST, "reserved_at": reservation.created_at.isoformat()},
    )
    call = {**about(account), "model_id": reservation.details.get("model")}
    ctx = RequestContext(client="system")
    properties = {"reference": reservation.reference}
    record(session, EventType.BALANCE_REFUNDED, at=at, ctx=ctx, **call, credits=credits, status="ok",
           properties=properties)  # fmt: skip
    record(session, EventType.LLM_CALL_FAILED, at=at, ctx=ctx, **call, status="error",
           error_code=SETTLEMENT_LOST, properties=properties)  # fmt: skip
