"""`/api/v1/auth/*`: sign-up, confirmation, sign-in, sessions, passwords and the second factor."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from api.accounts import settings as account_settings
from api.auth import service, two_factor
from api.auth.deps import Authenticated, Public, RequestCtx
from api.auth.errors import (
    EmailNotVerified,
    InvalidCurrentPassword,
    InvalidLinkToken,
    InvalidOtp,
    InvalidPassword,
    InvalidRefreshToken,
    OtpRequired,
    ReauthenticationRequired,
    RefreshTokenReused,
    RegistrationClosed,
    TooManyAttempts,
    TwoFactorAlreadyEnabled,
    TwoFactorNotSetUp,
)
from api.auth.passwords import PasswordTooCommon
from api.auth.schemas import (
    AcceptedOut,
    ChangePasswordIn,
    CodeIn,
    EmailIn,
    EndedOut,
    LoginIn,
    RecoveryCodesOut,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    StatusOut,
    TokenIn,
    TokenOut,
    TwoFactorSetupOut,
)
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, InvalidCredentials, NotAuthenticated, responses
from api.core.rate_limit import TooManyRequests
from api.core.types import utcnow
from api.mail.service import after_response

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
AUTH_ERRORS = (NotAuthenticated, AccountBlocked)


def _tokens(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access.token,
        expires_in=pair.access.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post(
    "/register",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Public],
    responses=responses(PasswordTooCommon, RegistrationClosed, TooManyRequests),
)
async def register(
    body: RegisterIn,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
    request: Request,
    background: BackgroundTasks,
) -> AcceptedOut:
    """Sign up. The answer is the same whether or not the email has an account (no enumeration): a new
    address gets a confirmation link, a taken one a note to its owner instead."""
    if not await account_settings.registration_open(session):
        raise RegistrationClosed("registration is closed for now")
    await service.sign_up(
        session,
        settings,
        email=body.email,
        password=body.password,
        country=body.country,
        ctx=ctx,
        at=utcnow(),
        locale=body.locale or _locale_of(request.headers.get("accept-language", "")),
    )
    after_response(background, request.app.state)
    return AcceptedOut(message="check your inbox: the next step is on its way to this address")


def _locale_of(accept_language: str) -> str:
    """Russian if the browser puts it before English (or has no English), else English."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("ru", "en")):
            return tag[:2]
    return "en"


async def _confirm(session, settings, ctx, token: str) -> StatusOut:
    await service.confirm_email(session, settings, token=token, ctx=ctx, at=utcnow())
    return StatusOut(status="confirmed")


@router.get("/confirm-email", dependencies=[Public], responses=responses(InvalidLinkToken))
async def confirm_email_link(
    token: str, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> StatusOut:
    """The link in the confirmation email."""
    return await _confirm(session, settings, ctx, token[:200])


@router.post("/confirm-email", dependencies=[Public], responses=responses(InvalidLinkToken))
async def confirm_email(
    body: TokenIn, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> StatusOut:
    """The same, for apps that read the token from the link themselves."""
    return await _confirm(session, settings, ctx, body.token)


@router.post(
    "/resend-confirmation",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Public],
    responses=responses(TooManyRequests),
)
async def resend_confirmation(
    body: EmailIn,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
    request: Request,
    background: BackgroundTasks,
) -> AcceptedOut:
    """A new confirmation link, if the email has an unconfirmed account: the answer comes first, the same
    either way, and the account is looked up after it."""
    at = utcnow()
    await service.count_mail_request(session, settings, email=body.email, ctx=ctx, at=at)
    work = partial(service.resend_confirmation, settings=settings, email=body.email, at=at)
    after_response(background, request.app.state, work)
    return AcceptedOut(message="if this email has an unconfirmed account, a new link is on its way")


@router.post(
    "/login",
    dependencies=[Public],
    responses=responses(
        InvalidCredentials, OtpRequired, InvalidOtp, AccountBlocked, EmailNotVerified, TooManyAttempts
    ),
)
async def login(body: LoginIn, session: SessionDep, settings: SettingsDep, ctx: RequestCtx) -> TokenOut:
    """Email and password (and `otp` when 2FA is on) for an access token (15 min) and a refresh token."""
    pair = await service.login(
        session, settings, email=body.email, password=body.password, otp=body.otp, ctx=ctx, at=utcnow()
    )
    return _tokens(pair)


@router.post(
    "/refresh",
    dependencies=[Public],
    responses=responses(InvalidRefreshToken, RefreshTokenReused, AccountBlocked),
)
async def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep, ctx: RequestCtx) -> TokenOut:
    """A new token pair for a refresh token, which is then spent (rotation)."""
    return _tokens(
        await service.refresh(session, settings, refresh_token=body.refresh_token, ctx=ctx, at=utcnow())
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(*AUTH_ERRORS))
async def logout(principal: Authenticated, session: SessionDep, ctx: RequestCtx) -> Response:
    """End this session: its access and refresh tokens stop working."""
    await service.logout(session, principal.account, principal.session_id, ctx=ctx, at=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=responses(*AUTH_ERRORS))
async def logout_all(principal: Authenticated, session: SessionDep, ctx: RequestCtx) -> Response:
    """End every session of the account, this one included."""
    await service.logout_all(session, principal.account, ctx=ctx, at=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/logout-others", responses=responses(*AUTH_ERRORS))
async def logout_others(principal: Authenticated, session: SessionDep, ctx: RequestCtx) -> EndedOut:
    """End every other session of the account: this one goes on (signed in with an API key: all end)."""
    ended = await service.logout_others(
        session, principal.account, principal.session_id, ctx=ctx, at=utcnow()
    )
    return EndedOut(ended=ended)


@router.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Public],
    responses=responses(TooManyRequests),
)
async def forgot_password(
    body: EmailIn,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
    request: Request,
    background: BackgroundTasks,
) -> AcceptedOut:
    """A reset link, if the email has an account: the answer comes first, the same either way, and the
    account is looked up after it."""
    at = utcnow()
    await service.count_mail_request(session, settings, email=body.email, ctx=ctx, at=at)
    work = partial(service.forgot_password, settings=settings, email=body.email, ctx=ctx, at=at)
    after_response(background, request.app.state, work)
    return AcceptedOut(message="if this email has an account, a reset link is on its way")


@router.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Public],
    responses=responses(InvalidLinkToken, PasswordTooCommon),
)
async def reset_password(
    body: ResetPasswordIn, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> Response:
    """Set a new password with the token from the reset link; every session of the account ends."""
    await service.reset_password(
        session, settings, token=body.token, new_password=body.new_password, ctx=ctx, at=utcnow()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/change-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(*AUTH_ERRORS, InvalidCurrentPassword, PasswordTooCommon, TooManyAttempts),
)
async def change_password(
    body: ChangePasswordIn,
    principal: Authenticated,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
) -> Response:
    """Change the password; the other sessions end, this one goes on."""
    await service.change_password(
        session,
        settings,
        principal.account,
        principal.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        ctx=ctx,
        at=utcnow(),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/2fa/setup", responses=responses(*AUTH_ERRORS, TwoFactorAlreadyEnabled))
async def two_factor_setup(
    principal: Authenticated, session: SessionDep, settings: SettingsDep
) -> TwoFactorSetupOut:
    """A new TOTP secret and its otpauth:// URI (for a QR code), pending until /2fa/enable turns it on."""
    secret, uri = await two_factor.setup(session, settings, principal.account)
    return TwoFactorSetupOut(secret=secret, otpauth_uri=uri)


# Changing the second factor needs the password again and a code, in the request itself (not the token).
REAUTH_ERRORS = (*AUTH_ERRORS, ReauthenticationRequired, InvalidPassword, InvalidOtp, TooManyAttempts)


@router.post("/2fa/enable", responses=responses(*REAUTH_ERRORS, TwoFactorAlreadyEnabled, TwoFactorNotSetUp))
async def two_factor_enable(
    body: CodeIn, principal: Authenticated, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> RecoveryCodesOut:
    """Turn 2FA on with the password and a first code from the app; returns the recovery codes, once."""
    codes = await two_factor.enable(
        session, settings, principal.account, body.code, body.password, ctx=ctx, at=utcnow()
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.post(
    "/2fa/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(*REAUTH_ERRORS, OtpRequired, TwoFactorNotSetUp),
)
async def two_factor_disable(
    body: CodeIn, principal: Authenticated, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> Response:
    """Turn 2FA off, with the password and a code (TOTP or recovery)."""
    await two_factor.disable(
        session, settings, principal.account, body.code, body.password, ctx=ctx, at=utcnow()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/2fa/recovery-codes", responses=responses(*REAUTH_ERRORS, OtpRequired, TwoFactorNotSetUp))
async def two_factor_recovery_codes(
    body: CodeIn, principal: Authenticated, session: SessionDep, settings: SettingsDep, ctx: RequestCtx
) -> RecoveryCodesOut:
    """New recovery codes (the old ones stop working), with the password and a code (TOTP or recovery)."""
    codes = await two_factor.regenerate_recovery_codes(
        session, settings, principal.account, body.code, body.password, ctx=ctx, at=utcnow()
    )
    return RecoveryCodesOut(recovery_codes=codes)
