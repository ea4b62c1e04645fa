"""Every check of a secret a person types is throttled and logged here, and nowhere else: a password (to
sign in, to change it, or asked again before the second factor changes) and a second factor (a TOTP or
recovery code: to sign in, to enrol, to disable it, for new recovery codes). No entry point can skip
either, as none checks a secret any other way (docs/decisions/0032).

A check takes one attempt in each of its buckets before it runs, and commits that, so a burst of
simultaneous guesses gets no more checks than a bucket allows; a failed check keeps its attempts (a full
bucket is then blocked, each block of it twice as long as the one before), a passed one frees them. The
buckets of a check, each counted over `login_throttle_minutes`:

- the account from this source (client IP): `login_max_failures_per_account`;
- this source, whatever the account (passwords only: one address trying many emails):
  `login_max_failures_per_ip`;
- the account from anywhere but the sources it signed in from in the last `login_usual_source_days`:
  `login_max_failures_per_account_any_source`. A stranger, from however many addresses, cannot lock the
  owner out of its usual ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.auth.credentials import DUMMY_PASSWORD_HASH, verify_password_async
from api.auth.errors import InvalidPassword, ReauthenticationRequired, TooManyAttempts
from api.core.errors import AppError
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import service as security
from api.security.service import Bucket


class Factor(StrEnum):
    PASSWORD = "password"  # noqa: S105 (a factor's name)
    SECOND_FACTOR = "second_factor"


class Purpose(StrEnum):
    LOGIN = "login"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 (a purpose's name)
    ENABLE_2FA = "enable_2fa"
    DISABLE_2FA = "disable_2fa"
    RECOVERY_CODES = "recovery_codes"
    DELETE_ACCOUNT = "delete_account"


# What a failed check is logged as: a failed sign-in and a refused password change as they always were,
# a failed re-authentication before a change of the second factor as such.
_FAILURE_EVENTS = {
    Purpose.LOGIN: EventType.USER_LOGIN_FAILED,
    Purpose.CHANGE_PASSWORD: EventType.SECURITY_PASSWORD_CHANGED,
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One check under way: its attempts are taken; `passed` or `failed` settles them."""

    factor: Factor
    purpose: Purpose
    account: Account | None
    email: str
    buckets: list[Bucket]


def _durations(settings: Settings) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=settings.login_throttle_minutes), timedelta(
        minutes=settings.login_max_lockout_minutes
    )


async def _buckets(
    session: AsyncSession,
    settings: Settings,
    factor: Factor,
    *,
    email: str,
    account: Account | None,
    ip: str | None,
    at: datetime,
) -> list[Bucket]:
    # A password is counted by the email typed (known or not: the same answer either way), a second factor
    # by the account (only an account has one).
    who = email if factor is Factor.PASSWORD else str(account.id)
    buckets = [
        Bucket(
            "account_source",
            f"{factor}:account_source:{who}|{ip or '-'}",
            settings.login_max_failures_per_account,
        )
    ]
    if factor is Factor.PASSWORD and ip:
        buckets.append(
            Bucket("source", f"{factor}:source:{ip}", settings.login_max_failures_per_ip, shared=True)
        )
    since = at - timedelta(days=settings.login_usual_source_days)
    if ip is None or not await security.signed_in_from(session, email=email, ip=ip, since=since):
        buckets.append(
            Bucket("account", f"{factor}:account:{who}", settings.login_max_failures_per_account_any_source)
        )
    return buckets


async def begin(
    session: AsyncSession,
    settings: Settings,
    factor: Factor,
    purpose: Purpose,
    *,
    email: str,
    account: Account | None,
    ctx: RequestContext,
    at: datetime,
) -> Attempt:
    """Take the attempts of a check about to run (committed: every simultaneous request sees them), or
    refuse it with 429 and Retry-After while one of its buckets is full or blocked."""
    buckets = await _buckets(session, settings, factor, email=email, account=account, ip=ctx.ip, at=at)
    window, max_lockout = _durations(settings)
    retry_after = await security.take_attempts(
        session, buckets, at=at, window=window, max_lockout=max_lockout
    )
    await session.commit()
    if retry_after is not None:
        what = "sign-in attempts" if purpose is Purpose.LOGIN else "attempts"
        raise TooManyAttempts(
            f"too many failed {what}: try again later",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
    return Attempt(factor, purpose, account, email, buckets)


async def passed(session: AsyncSession, attempt: Attempt) -> None:
    """The check passed: its buckets start again (the caller commits)."""
    await security.attempts_passed(session, attempt.buckets)


async def failed(
    session: AsyncSession,
    settings: Settings,
    attempt: Attempt,
    error: AppError,
    *,
    ctx: RequestContext,
    at: datetime,
) -> NoReturn:
    """The check failed (or the account may not go on): log it, keep its attempts counted, block the
    buckets now full, commit, and refuse with `error`."""
    details = {"factor": attempt.factor.value, "purpose": attempt.purpose.value}
    security.record(
        session,
        _FAILURE_EVENTS.get(attempt.purpose, EventType.SECURITY_REAUTHENTICATION_FAILED),
        at=at,
        ctx=ctx,
        account=attempt.account,
        email=attempt.email,
        ok=False,
        error_code=error.code,
        details=details,
    )
    window, max_lockout = _durations(settings)
    for lockout in await security.attempts_failed(
        session, attempt.buckets, at=at, window=window, max_lockout=max_lockout
    ):
        security.record(
            session,
            EventType.SECURITY_LOCKOUT,
            at=at,
            ctx=ctx,
            account=attempt.account,
            email=attempt.email,
            ok=False,
            details={
                **details,
                "scope": lockout.bucket.scope,
                "failures": lockout.bucket.limit,
                "minutes": int(lockout.lasts.total_seconds() // 60),
            },
        )
    await session.commit()
    raise error


async def check_password(
    session: AsyncSession,
    settings: Settings,
    *,
    account: Account | None,
    email: str,
    password: str,
    purpose: Purpose,
    error: AppError,
    ctx: RequestContext,
    at: datetime,
) -> Attempt:
    """Check the password of `account` (None: no account has `email`; checked against a dummy hash, so a
    miss costs the same time): refused with `error` when wrong. The attempt is the caller's to settle."""
    attempt = await begin(
        session, settings, Factor.PASSWORD, purpose, email=email, account=account, ctx=ctx, at=at
    )
    valid = await verify_password_async(account.password_hash if account else DUMMY_PASSWORD_HASH, password)
    if account is None or not valid:
        await failed(session, settings, attempt, error, ctx=ctx, at=at)
    return attempt


async def reauthenticate(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    password: str | None,
    *,
    purpose: Purpose,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """The password again, in the request that changes the second factor: an access token alone (a stolen
    one) cannot change it (the caller commits)."""
    if not password:
        raise ReauthenticationRequired(
            "confirm it is you: send your password as `password` (and a code as `code` when 2FA is on)"
        )
    attempt = await check_password(
        session,
        settings,
        account=account,
        email=account.email,
        password=password,
        purpose=purpose,
        error=InvalidPassword("the password is wrong"),
        ctx=ctx,
        at=at,
    )
    await passed(session, attempt)
