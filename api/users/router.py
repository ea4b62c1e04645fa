"""`/api/v1/me/*`: one's own account, sessions, login history and API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.auth import api_keys
from api.auth import service as auth
from api.auth.deps import Authenticated, CurrentAccount, RequestCtx
from api.auth.errors import (
    InvalidOtp,
    InvalidPassword,
    OtpRequired,
    TooManyAttempts,
)
from api.auth.schemas import AccountOut, ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, SessionOut
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.security import service as security
from api.security.schemas import SecurityEventOut
from api.users import service
from api.users.schemas import DeleteAccountIn, ProfileIn, UsageOut
from api.users.service import StaffAccountNotDeletable

router = APIRouter(prefix="/api/v1/me", tags=["me"])
AUTH_ERRORS = responses(NotAuthenticated, AccountBlocked)
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("", responses=AUTH_ERRORS)
async def me(account: CurrentAccount) -> AccountOut:
    return AccountOut.model_validate(account)


@router.patch("", responses=AUTH_ERRORS)
async def update_me(
    body: ProfileIn, account: CurrentAccount, session: SessionDep, ctx: RequestCtx
) -> AccountOut:
    """Change one's display name, language (`en`, `ru`: the language of notifications and mails that
    honour it) or country (ISO 3166-1 alpha-2). Send only the fields to change; null removes the name or
    the country. The email is not changed here. A change is logged (`user.profile_updated`)."""
    return AccountOut.model_validate(
        await service.update_profile(session, account, body.changes(), ctx=ctx, at=utcnow())
    )


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(
        NotAuthenticated, AccountBlocked, InvalidPassword, OtpRequired, InvalidOtp,
        TooManyAttempts, StaffAccountNotDeletable,
    ),
)  # fmt: skip
async def delete_me(
    body: DeleteAccountIn,
    account: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
) -> Response:
    """Delete one's account for good: the password (and a code when 2FA is on) is checked again. Every
    session and API key ends at once; the email, name, country, chats and messages are erased; the balance
    ledger, usage events (under the account's id) and the audit log are kept, the account's row staying as
    a tombstone with no personal data (docs/decisions/0047). The email may sign up again afterwards, as a
    new account. A staff account is refused (`staff_account_not_deletable`)."""
    await service.delete_account(
        session, settings, account, password=body.password, code=body.code, ctx=ctx, at=utcnow()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", responses=AUTH_ERRORS)
async def my_sessions(principal: Authenticated, session: SessionDep) -> list[SessionOut]:
    rows = await auth.sessions_of(session, principal.account.id)
    return [
        SessionOut.model_validate(row).model_copy(update={"current": row.id == principal.session_id})
        for row in rows
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NotAuthenticated, AccountBlocked, NotFound),
)
async def end_my_session(
    session_id: uuid.UUID, principal: Authenticated, session: SessionDep, ctx: RequestCtx
) -> Response:
    """Sign one of one's own sessions out (another browser or device): its tokens stop working at once.
    A session that is not one's own, or has ended: 404."""
    await auth.end_session(session, principal.account, session_id, ctx=ctx, at=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/security-events", responses=AUTH_ERRORS)
async def my_security_events(
    account: CurrentAccount, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> list[SecurityEventOut]:
    """The login history and security log of one's own account, newest first."""
    rows = await security.events(session, account_id=account.id, limit=limit, offset=offset)
    return [SecurityEventOut.model_validate(row) for row in rows]


@router.get("/api-keys", responses=AUTH_ERRORS)
async def list_api_keys(account: CurrentAccount, session: SessionDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(key) for key in await auth.api_keys_of(session, account.id)]


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, responses=AUTH_ERRORS)
async def create_api_key(
    body: ApiKeyIn, account: CurrentAccount, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> ApiKeyCreatedOut:
    """A personal API key for /v1/*. The key is in this answer only: it is stored as a hash."""
    key, plaintext = await api_keys.create(session, settings, account, body.name, ctx=ctx, at=utcnow())
    return ApiKeyCreatedOut(**ApiKeyOut.model_validate(key).model_dump(), key=plaintext)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NotAuthenticated, AccountBlocked, NotFound),
)
async def revoke_api_key(
    key_id: uuid.UUID, account: CurrentAccount, session: SessionDep, ctx: RequestCtx
) -> Response:
    await api_keys.revoke(session, account, key_id, ctx=ctx, at=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/usage", responses=AUTH_ERRORS)
async def my_usage(account: CurrentAccount, session: SessionDep) -> UsageOut:
    """Today's and this month's use against the plan's limits, and when each resets (UTC)."""
    return await service.usage(session, account, utcnow())
