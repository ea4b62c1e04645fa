"""Registration, email confirmation, login, refresh, logout, password reset and change.

Each operation commits its rows, its security-log entries and its usage events together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts import settings as account_settings
from api.accounts.models import Account
from api.auth import api_keys, attempts, two_factor
from api.auth import mails as texts
from api.auth import repository as auth_repo
from api.auth.attempts import Purpose
from api.auth.credentials import (
    AccessToken,
    hash_password_async,
    issue_access_token,
    password_needs_rehash,
)
from api.auth.errors import (
    EmailNotVerified,
    InvalidCurrentPassword,
    InvalidLinkToken,
    InvalidRefreshToken,
    RefreshTokenReused,
)
from api.auth.mails import ACCOUNT_EXISTS, CONFIRM_EMAIL, RESET_PASSWORD
from api.auth.models import ApiKey, AuthSession, OneTimeToken, RefreshToken
from api.auth.passwords import check_new_password
from api.core.crypto import new_token, token_hash
from api.core.errors import AccountBlocked, EmailTaken, InvalidCredentials, NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.mail import service as mail
from api.notifications import notify
from api.security import service as security

REFRESH_PREFIX = "rt_"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: AccessToken
    refresh_token: str
    refresh_expires_in: int


# ---------------------------------------------------------------- registration and email confirmation


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    country: str | None,
    ctx: RequestContext,
    at: datetime,
    role: str = "user",
    verified: bool = False,
    plan: str | None = None,
    locale: str = "en",
) -> Account:
    """A new account (on `plan`, else the default plan staff set); unless `verified` (made by an
    operator), a confirmation link is emailed."""
    check_new_password(password, email=email)
    password_hash = await hash_password_async(password)
    if await accounts.get_account_by_email(session, email) is not None:
        raise EmailTaken("an account with this email already exists")
    account = Account(
        email=email,
        password_hash=password_hash,
        role=role,
        plan_code=plan or await account_settings.default_plan(session),
        country=country or ctx.country,
        locale=locale,
        created_at=at,
        email_verified_at=at if verified else None,
    )
    try:
        await accounts.add_account(session, account)
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        await session.rollback()
        raise EmailTaken("an account with this email already exists") from exc
    if not verified:
        await _send_confirmation(session, settings, account, at)
    await notify.notify(session, settings, "welcome", account, at)
    security.record(
        session, EventType.USER_REGISTERED, at=at, ctx=ctx, account=account, details={"role": role}
    )
    await session.commit()
    return account


async def sign_up(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    country: str | None,
    ctx: RequestContext,
    at: datetime,
    locale: str,
) -> None:
    """Public sign-up. The answer is the same whether or not the email has an account, and costs the same
    password hash: a new address gets its confirmation link, a taken one a note to its owner instead.
    Counted against the mail limits (per address, per client IP) first."""
    check_new_password(password, email=email)
    await count_mail_request(session, settings, email=email, ctx=ctx, at=at)
    try:
        await register(
            session, settings, email=email, password=password, country=country, ctx=ctx, at=at, locale=locale
        )
    except EmailTaken:  # a note to the owner, in the owner's language
        owner = await accounts.get_account_by_email(session, email)
        language = owner.locale if owner else locale
        subject, body = texts.text(ACCOUNT_EXISTS, language, link=_sign_in_url(settings))
        mail.enqueue(session, to=email, subject=subject, body=body, kind=ACCOUNT_EXISTS, at=at)
        await session.commit()


async def _one_time_link_token(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    purpose: str,
    lifetime: timedelta,
    at: datetime,
) -> str:
    token = new_token(32)
    await auth_repo.add(
        session,
        OneTimeToken(
            account_id=account.id,
            purpose=purpose,
            token_hash=token_hash(settings, token),
            created_at=at,
            expires_at=at + lifetime,
        ),
    )
    return token


async def _mail_link(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    purpose: str,
    lifetime: timedelta,
    url: str,
    at: datetime,
) -> None:
    """Email a single-use link (`url` + the token) that expires after `lifetime`, in the account's
    language."""
    token = await _one_time_link_token(session, settings, account, purpose, lifetime, at)
    subject, body = texts.text(purpose, account.locale, link=f"{url}{token}", lifetime=lifetime)
    mail.enqueue(session, to=account.email, subject=subject, body=body, kind=purpose, at=at)


def _has_portal(settings: Settings) -> bool:
    """The portal has its own address (AIADMIN_APP_URL, docs/portal.md): mail links lead to its pages."""
    return settings.app_url != settings.public_url


def _confirm_url(settings: Settings) -> str:
    """The portal's confirmation page, else the API's own link, which answers JSON."""
    if _has_portal(settings):
        return f"{settings.app_url}/confirm-email?token="
    return f"{settings.public_url}/api/v1/auth/confirm-email?token="


def _sign_in_url(settings: Settings) -> str:
    """The portal's sign-in page (it links to forgot-password), else the service's address."""
    return f"{settings.app_url}/sign-in" if _has_portal(settings) else settings.app_url


async def _send_confirmation(
    session: AsyncSession, settings: Settings, account: Account, at: datetime
) -> None:
    await _mail_link(
        session,
        settings,
        account,
        purpose=CONFIRM_EMAIL,
        lifetime=timedelta(hours=settings.email_token_hours),
        url=_confirm_url(settings),
        at=at,
    )


async def _spend_link_token(
    session: AsyncSession, settings: Settings, token: str, purpose: str, at: datetime
) -> Account:
    row = await auth_repo.get_one_time_token(session, token_hash(settings, token), purpose)
    if row is None or row.used_at is not None or row.expires_at <= at:
        raise InvalidLinkToken("this link is invalid, used or expired: ask for a new one")
    account = await accounts.get_account(session, row.account_id)
    await auth_repo.use_one_time_tokens(session, account.id, purpose, at)
    return account


async def confirm_email(
    session: AsyncSession, settings: Settings, *, token: str, ctx: RequestContext, at: datetime
) -> Account:
    account = await _spend_link_token(session, settings, token, CONFIRM_EMAIL, at)
    if account.email_verified_at is None:
        account.email_verified_at = at
        security.record(session, EventType.USER_EMAIL_CONFIRMED, at=at, ctx=ctx, account=account)
    await session.commit()
    return account


async def count_mail_request(
    session: AsyncSession, settings: Settings, *, email: str, ctx: RequestContext, at: datetime
) -> None:
    """A request for a confirmation or reset link, counted per address and per client IP whether or not
    the address has an account (429 past the limits). The link itself is `resend_confirmation`'s or
    `forgot_password`'s work, done after the response (`mail.after_response`): the answer and its time
    are the same either way."""
    await mail.count_request(session, settings, to=email, ip=ctx.ip, at=at)


async def resend_confirmation(session: AsyncSession, settings: Settings, *, email: str, at: datetime) -> None:
    """A new link only when the email has an unconfirmed account (run after the response)."""
    account = await accounts.get_account_by_email(session, email)
    if (
        account is not None
        and account.email_verified_at is None
        and not account.is_blocked
        and not account.deleted_at
    ):
        await _send_confirmation(session, settings, account, at)
        await session.commit()


# ---------------------------------------------------------------- login, refresh, logout


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    otp: str | None,
    ctx: RequestContext,
    at: datetime,
) -> TokenPair:
    """The password, then the second factor when the account has one: each checked, throttled and logged by
    api.auth.attempts (a refused account counts as a failed attempt, as a wrong password does)."""
    account = await accounts.get_account_by_email(session, email)
    await session.commit()  # end the read: no transaction is open while the hash is checked
    attempt = await attempts.check_password(
        session,
        settings,
        account=account,
        email=email,
        password=password,
        purpose=Purpose.LOGIN,
        error=InvalidCredentials("wrong email or password"),
        ctx=ctx,
        at=at,
    )
    if account.is_blocked:
        await attempts.failed(
            session, settings, attempt, AccountBlocked("this account is blocked"), ctx=ctx, at=at
        )
    if settings.require_email_verification and account.email_verified_at is None:
        error = EmailNotVerified(
            "confirm your email first: follow the link we sent you (or ask for a new one)"
        )
        await attempts.failed(session, settings, attempt, error, ctx=ctx, at=at)
    await attempts.passed(session, attempt)
    await session.commit()  # the password was right, whatever the second factor turns out to be
    if account.two_factor_enabled:
        await two_factor.check(session, settings, account, otp, purpose=Purpose.LOGIN, ctx=ctx, at=at)
    if password_needs_rehash(account.password_hash):
        account.password_hash = await hash_password_async(password)
    account.last_login_at = at
    auth_session = AuthSession(
        account_id=account.id,
        created_at=at,
        expires_at=at + timedelta(days=settings.refresh_token_days),
        last_used_at=at,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
    )
    await auth_repo.add(session, auth_session)
    pair = await _issue_tokens(session, settings, account, auth_session, at)
    security.record(
        session,
        EventType.USER_LOGIN_SUCCEEDED,
        at=at,
        ctx=ctx,
        account=account,
        email=email,
        details={"session_id": str(auth_session.id), "second_factor": account.two_factor_enabled},
    )
    await session.commit()
    return pair


async def _issue_tokens(
    session: AsyncSession, settings: Settings, account: Account, auth_session: AuthSession, at: datetime
) -> TokenPair:
    refresh_token = REFRESH_PREFIX + new_token(32)
    await auth_repo.add(
        session,
        RefreshToken(
            session_id=auth_session.id, token_hash=token_hash(settings, refresh_token), created_at=at
        ),
    )
    access = issue_access_token(settings, account.id, auth_session.id, now=at)
    return TokenPair(access, refresh_token, int((auth_session.expires_at - at).total_seconds()))


async def refresh(
    session: AsyncSession, settings: Settings, *, refresh_token: str, ctx: RequestContext, at: datetime
) -> TokenPair:
    """Exchange a refresh token for a new pair. A token is good once: showing a used one again means a
    copy exists, so the whole session (every token rotated from the same login) is revoked."""
    row = await auth_repo.get_refresh_token(session, token_hash(settings, refresh_token))
    if row is None:
        raise InvalidRefreshToken("invalid refresh token")
    auth_session = await auth_repo.get_session(session, row.session_id)
    account = await accounts.get_account(session, auth_session.account_id)
    if auth_session.revoked_at is not None or auth_session.expires_at <= at:
        raise InvalidRefreshToken("this session has ended: sign in again")
    if account.is_blocked:
        raise AccountBlocked("this account is blocked")
    if row.used_at is not None or not await auth_repo.mark_refresh_token_used(session, row.id, at):
        await auth_repo.revoke_sessions(
            session, account.id, at=at, reason="refresh_reuse", only=auth_session.id
        )
        security.record(
            session,
            EventType.SECURITY_REFRESH_REUSED,
            at=at,
            ctx=ctx,
            account=account,
            ok=False,
            error_code=RefreshTokenReused.code,
            details={"session_id": str(auth_session.id)},
        )
        await session.commit()
        raise RefreshTokenReused("this refresh token was already used: the session is revoked, sign in again")
    auth_session.last_used_at = at
    pair = await _issue_tokens(session, settings, account, auth_session, at)
    await session.commit()
    return pair


async def logout(
    session: AsyncSession, account: Account, session_id, *, ctx: RequestContext, at: datetime
) -> None:
    await auth_repo.revoke_sessions(session, account.id, at=at, reason="logout", only=session_id)
    security.record(session, EventType.USER_LOGGED_OUT, at=at, ctx=ctx, account=account)
    await session.commit()


async def logout_all(session: AsyncSession, account: Account, *, ctx: RequestContext, at: datetime) -> int:
    revoked = await auth_repo.revoke_sessions(session, account.id, at=at, reason="logout_all")
    security.record(
        session,
        EventType.USER_LOGGED_OUT_EVERYWHERE,
        at=at,
        ctx=ctx,
        account=account,
        details={"sessions": revoked},
    )
    await session.commit()
    return revoked


async def end_session(
    session: AsyncSession, account: Account, session_id: uuid.UUID, *, ctx: RequestContext, at: datetime
) -> None:
    """End one of the account's own sessions (signing another device out). Not one of its live sessions:
    not found, whoever's it is."""
    if not await auth_repo.revoke_sessions(
        session, account.id, at=at, reason="ended_elsewhere", only=session_id
    ):
        raise NotFound("no such session")
    security.record(
        session, EventType.USER_LOGGED_OUT, at=at, ctx=ctx, account=account,
        details={"session_id": str(session_id), "ended_from": "another session"},
    )  # fmt: skip
    await session.commit()


async def logout_others(
    session: AsyncSession, account: Account, current: uuid.UUID | None, *, ctx: RequestContext, at: datetime
) -> int:
    """End every session of the account but `current` (the caller's own)."""
    revoked = await auth_repo.revoke_sessions(
        session, account.id, at=at, reason="logout_others", keep=current
    )
    security.record(
        session, EventType.USER_LOGGED_OUT_EVERYWHERE, at=at, ctx=ctx, account=account,
        details={"sessions": revoked, "kept_this_one": current is not None},
    )  # fmt: skip
    await session.commit()
    return revoked


# ---------------------------------------------------------------- passwords


async def forgot_password(
    session: AsyncSession, settings: Settings, *, email: str, ctx: RequestContext, at: datetime
) -> None:
    """A reset link only when the email has an account (run after the response)."""
    account = await accounts.get_account_by_email(session, email)
    if account is None or account.is_blocked or account.deleted_at:
        return
    await _mail_link(
        session,
        settings,
        account,
        purpose=RESET_PASSWORD,
        lifetime=timedelta(minutes=settings.reset_token_minutes),
        url=f"{settings.app_url}/reset-password?token=",
        at=at,
    )
    security.record(session, EventType.SECURITY_PASSWORD_RESET_REQUESTED, at=at, ctx=ctx, account=account)
    await session.commit()


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str,
    new_password: str,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Set a new password from an emailed link; every session and API key of the account ends."""
    account = await _spend_link_token(session, settings, token, RESET_PASSWORD, at)
    check_new_password(new_password, email=account.email)
    account.password_hash = await hash_password_async(new_password)
    account.password_changed_at = at
    if account.email_verified_at is None:  # the link came to the mailbox: that confirms it too
        account.email_verified_at = at
        security.record(session, EventType.USER_EMAIL_CONFIRMED, at=at, ctx=ctx, account=account)
    revoked = await auth_repo.revoke_sessions(session, account.id, at=at, reason="password_reset")
    keys = await api_keys.revoke_all(session, account.id, at=at)
    security.record(
        session,
        EventType.SECURITY_PASSWORD_RESET,
        at=at,
        ctx=ctx,
        account=account,
        details={"sessions_revoked": revoked, "api_keys_revoked": keys},
    )
    await session.commit()


async def change_password(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    session_id,
    *,
    current_password: str,
    new_password: str,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Change one's password (the current one checked, throttled and logged by api.auth.attempts); every
    other session ends, this one goes on."""
    attempt = await attempts.check_password(
        session,
        settings,
        account=account,
        email=account.email,
        password=current_password,
        purpose=Purpose.CHANGE_PASSWORD,
        error=InvalidCurrentPassword("the current password is wrong"),
        ctx=ctx,
        at=at,
    )
    await attempts.passed(session, attempt)
    check_new_password(new_password, email=account.email)
    account.password_hash = await hash_password_async(new_password)
    account.password_changed_at = at
    revoked = await auth_repo.revoke_sessions(
        session, account.id, at=at, reason="password_changed", keep=session_id
    )
    security.record(
        session,
        EventType.SECURITY_PASSWORD_CHANGED,
        at=at,
        ctx=ctx,
        account=account,
        details={"other_sessions_revoked": revoked},
    )
    await session.commit()


# ---------------------------------------------------------------- deletion (docs/decisions/0047)

# Stands where a deleted account's password hash was: no hash, so no password matches it (verify_password).
NO_PASSWORD = "!deleted"  # noqa: S105 (a marker, not a secret)
ACCOUNT_DELETED = "account_deleted"


async def confirm_it_is_you(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    password: str | None,
    code: str | None,
    purpose: Purpose,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """The password again, and a second-factor code when the account has one, in the request that does
    something a stolen access token must not (throttled and logged by api.auth.attempts; commits them)."""
    await attempts.reauthenticate(session, settings, account, password, purpose=purpose, ctx=ctx, at=at)
    if account.two_factor_enabled:
        await two_factor.check(session, settings, account, code, purpose=purpose, ctx=ctx, at=at)
    await session.commit()


async def end_every_way_in(session: AsyncSession, account: Account, *, at: datetime) -> dict[str, int]:
    """A deleted account's credentials, ended for good (the caller commits): every session (so its access
    and refresh tokens) and API key revoked, its emailed links spent, its second factor removed and its
    password replaced by a mark no password matches. How many sessions and keys ended."""
    sessions = await auth_repo.revoke_sessions(session, account.id, at=at, reason=ACCOUNT_DELETED)
    keys = await api_keys.revoke_all(session, account.id, at=at)
    for purpose in (CONFIRM_EMAIL, RESET_PASSWORD):
        await auth_repo.use_one_time_tokens(session, account.id, purpose, at)
    await two_factor.clear(session, account)
    account.password_hash = NO_PASSWORD
    return {"sessions_revoked": sessions, "api_keys_revoked": keys}


async def sessions_of(session: AsyncSession, account_id: uuid.UUID) -> list[AuthSession]:
    """The account's sessions, as /me/sessions lists them."""
    return await auth_repo.list_sessions(session, account_id)


async def api_keys_of(session: AsyncSession, account_id: uuid.UUID) -> list[ApiKey]:
    return await auth_repo.list_api_keys(session, account_id)
