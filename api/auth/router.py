from __future__ import annotations

from fastapi import APIRouter, status

from api.auth import service
from api.auth.schemas import LoginIn, RegisterIn, TokenOut
from api.core.deps import RequestCtx, SessionDep, SettingsDep
from api.core.errors import AccountBlocked, EmailTaken, InvalidCredentials, responses
from api.core.types import utcnow
from api.users.schemas import AccountOut

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    responses=responses(EmailTaken),
)
async def register(body: RegisterIn, session: SessionDep, ctx: RequestCtx) -> AccountOut:
    account = await service.register(
        session, email=body.email, password=body.password, country=body.country, ctx=ctx, at=utcnow()
    )
    return AccountOut.model_validate(account)


@router.post("/login", response_model=TokenOut, responses=responses(InvalidCredentials, AccountBlocked))
async def login(body: LoginIn, session: SessionDep, settings: SettingsDep, ctx: RequestCtx) -> TokenOut:
    token = await service.login(
        session, settings, email=body.email, password=body.password, ctx=ctx, at=utcnow()
    )
    return TokenOut(access_token=token.token, expires_in=token.expires_in)
