"""`/api/v1/admin/guardrails` (catalogue:write; analytics:read may look): a role's or a plan's guardrails,
personal data redacted before a prompt leaves and content rules that refuse a call (docs/gateway.md,
docs/decisions/0056). Every change is audited and in use from the next completion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import admin
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr
from api.guardrails.rules import MAX_PATTERN, MAX_RULES, RULE_ID
from api.guardrails.service import DuplicateRule, UnsafeRule

router = APIRouter(prefix="/api/v1/admin/guardrails", tags=["admin: guardrails"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
Scope = Annotated[Literal["role", "plan"], Path(description="whose guardrails: a role's or a plan's")]
Target = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$", description="the role's id or the plan's code")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=RULE_ID, description="stable: events and flags name it")]
    kind: Literal["term", "pattern"]
    value: Annotated[SafeStr, Field(min_length=1, max_length=MAX_PATTERN)]


class GuardrailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redact_pii: bool = False
    rules: Annotated[list[RuleIn], Field(max_length=MAX_RULES)] = []


class GuardrailsOut(BaseModel):
    scope: str
    target: str
    redact_pii: bool
    rules: list[RuleIn]
    updated_at: datetime


@router.get("", responses=ERRORS)
async def list_guardrails(_staff: AnalyticsReader, session: SessionDep) -> list[GuardrailsOut]:
    """Every role's and plan's guardrails (a role or plan not listed has none)."""
    return [GuardrailsOut(**p) for p in await admin.guardrails.list_policies(session)]


@router.put("/{scope}/{target}", responses={**ERRORS, **responses(UnsafeRule, DuplicateRule)})
async def put_guardrails(
    staff: CatalogueWriter, session: SessionDep, scope: Scope, target: Target, body: GuardrailsIn,
    request: Request, audit_ctx: AuditCtx,
) -> GuardrailsOut:  # fmt: skip
    """Replace the role's or plan's guardrails. A pattern that could backtrack without end is refused
    (400 `unsafe_pattern`, with the rule and why)."""
    saved = await admin.save_guardrails(
        session, staff, scope, target, body.redact_pii, [r.model_dump() for r in body.rules], at=utcnow(),
        context=audit_ctx, cache=request.app.state.gateway.catalogue,
    )  # fmt: skip
    return GuardrailsOut(**saved)


@router.delete("/{scope}/{target}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_guardrails(
    staff: CatalogueWriter, session: SessionDep, scope: Scope, target: Target, request: Request,
    audit_ctx: AuditCtx,
) -> None:  # fmt: skip
    """The role or plan has no guardrails any more."""
    cache = request.app.state.gateway.catalogue
    await admin.delete_guardrails(session, staff, scope, target, at=utcnow(), context=audit_ctx, cache=cache)
