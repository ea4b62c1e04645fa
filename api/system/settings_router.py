"""`/api/v1/admin/settings` and `/api/v1/admin/plans`: the credit rate and currency, whether registration
is open, the default plan; plans and their limits (settings:write to change, users:read to list).
Every change is audited; the gateway's catalogue snapshot in this process is reloaded at once (other
processes within `AIADMIN_CATALOGUE_CACHE_SECONDS`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.accounts import settings as settings_service
from api.accounts.models import Account, Plan
from api.audit import service as audit
from api.auth.deps import AuditCtx, SettingsWriter, UsersReader
from api.billing import service as billing
from api.billing.service import CreditRate
from api.core.deps import SessionDep
from api.core.errors import (
    AccountBlocked,
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    responses,
)
from api.core.types import utcnow
from api.users.admin import UnknownPlan

router = APIRouter(prefix="/api/v1/admin", tags=["admin: plans and settings"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
PlanCode = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$")]
Limit = Annotated[int | None, Field(ge=0, le=2**31 - 1)]  # what the INTEGER columns of plans hold


class PlanExists(Conflict):
    code = "plan_exists"


class PlanInUse(Conflict):
    code = "plan_in_use"


class CreditRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    price_per_credit: Annotated[Decimal, Field(gt=0, le=10**6, decimal_places=6)]  # what a credit costs
    usd_per_credit: Annotated[Decimal, Field(gt=0, le=10**6, decimal_places=6)]  # what it covers


class SettingsOut(BaseModel):
    credit_rate: CreditRateIn
    registration_open: bool
    default_plan: str


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credit_rate: CreditRateIn | None = None
    registration_open: bool | None = None
    default_plan: Annotated[str | None, Field(pattern=r"^[a-z0-9_-]{1,32}$")] = None


class PlanFields(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    name: Annotated[str, Field(min_length=1, max_length=100)]
    model_tiers: Annotated[str, Field(pattern=r"^(free|paid)(,(free|paid))*$", max_length=64)] = "free"
    daily_requests: Limit = None
    tokens_per_day: Limit = None
    tokens_per_month: Limit = None
    max_chats: Limit = None
    max_messages_per_chat: Limit = None


class PlanOut(PlanFields):
    code: str


class PlanIn(PlanFields):
    code: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]


async def _settings(session) -> SettingsOut:
    rate = await billing.credit_rate(session)
    return SettingsOut(
        credit_rate=CreditRateIn(
            currency=rate.currency, price_per_credit=rate.price_per_credit, usd_per_credit=rate.usd_per_credit
        ),
        registration_open=await settings_service.registration_open(session),
        default_plan=await settings_service.default_plan(session),
    )


@router.get("/settings", responses=ERRORS)
async def read_settings(_staff: SettingsWriter, session: SessionDep) -> SettingsOut:
    return await _settings(session)


@router.patch("/settings", responses={**ERRORS, **responses(UnknownPlan)})
async def change_settings(
    staff: SettingsWriter, session: SessionDep, body: SettingsIn, request: Request, audit_ctx: AuditCtx
) -> SettingsOut:
    """Change any of the settings given; the others stay."""
    at = utcnow()
    before = (await _settings(session)).model_dump(mode="json")
    if body.default_plan is not None and await session.get(Plan, body.default_plan) is None:
        raise UnknownPlan(f"there is no plan {body.default_plan!r}")
    if body.credit_rate is not None:
        rate = body.credit_rate
        await billing.set_credit_rate(
            session, CreditRate(rate.currency, rate.price_per_credit, rate.usd_per_credit), at
        )
    for key in ("registration_open", "default_plan"):
        if getattr(body, key) is not None:
            await settings_service.put(session, key, getattr(body, key), at)
    after = (await _settings(session)).model_dump(mode="json")
    changed = [key for key in after if after[key] != before[key]]
    await audit.write(
        session, staff, "settings.change", target_type="settings", target_id="app",
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, at=at,
        context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return SettingsOut.model_validate(after)


@router.get("/plans", responses=ERRORS)
async def list_plans(_staff: UsersReader, session: SessionDep) -> list[PlanOut]:
    rows = await session.scalars(select(Plan).order_by(Plan.code))
    return [PlanOut.model_validate(p) for p in rows.all()]


@router.post("/plans", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(PlanExists)})
async def create_plan(
    staff: SettingsWriter, session: SessionDep, body: PlanIn, request: Request, audit_ctx: AuditCtx
) -> PlanOut:
    if await session.get(Plan, body.code) is not None:
        raise PlanExists(f"plan {body.code!r} exists")
    plan = Plan(**body.model_dump())
    session.add(plan)
    await audit.write(
        session, staff, "plan.create", target_type="plan", target_id=body.code, before={},
        after=body.model_dump(mode="json"), at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return PlanOut.model_validate(plan)


@router.put("/plans/{code}", responses={**ERRORS, **responses(NotFound)})
async def update_plan(
    staff: SettingsWriter, session: SessionDep, code: PlanCode, body: PlanFields, request: Request,
    audit_ctx: AuditCtx,
) -> PlanOut:  # fmt: skip
    """Replace the plan's name, tiers and limits (null: no limit); accounts on it get them at once."""
    plan = await session.get(Plan, code)
    if plan is None:
        raise NotFound(f"no plan {code!r}")
    before = PlanFields.model_validate(plan).model_dump(mode="json")
    for key, value in body.model_dump().items():
        setattr(plan, key, value)
    await audit.write(
        session, staff, "plan.update", target_type="plan", target_id=code, before=before,
        after=body.model_dump(mode="json"), at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return PlanOut.model_validate(plan)


@router.delete(
    "/plans/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERRORS, **responses(NotFound, PlanInUse)},
)
async def delete_plan(
    staff: SettingsWriter, session: SessionDep, code: PlanCode, request: Request, audit_ctx: AuditCtx
) -> None:
    """Refused while an account is on it or it is the default plan: move them first."""
    plan = await session.get(Plan, code)
    if plan is None:
        raise NotFound(f"no plan {code!r}")
    on_it = await session.scalar(select(func.count()).select_from(Account).where(Account.plan_code == code))
    if on_it or await settings_service.default_plan(session) == code:
        raise PlanInUse(f"plan {code!r} is the default plan or has {on_it} accounts: move them first")
    before = PlanFields.model_validate(plan).model_dump(mode="json")
    await session.delete(plan)
    await audit.write(
        session, staff, "plan.delete", target_type="plan", target_id=code, before=before, after={},
        at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
