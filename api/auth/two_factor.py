"""TOTP (RFC 6238: 30 s steps, 6 digits, SHA-1, as authenticator apps expect) and recovery codes.

A time step is accepted once: the last used step is kept and only later ones pass, so an observed
code cannot be replayed. Recovery codes are stored as argon2id hashes (of their keyed hashes) and work once
each. Every code is checked by `check` alone, throttled and logged (api/auth/attempts.py); turning the
second factor on or off and new recovery codes need the password again in the same request.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.models import Account
from api.auth import attempts
from api.auth import repository as auth_repo
from api.auth.attempts import Factor, Purpose
from api.auth.credentials import hash_password, verify_password
from api.auth.errors import InvalidOtp, OtpRequired, TwoFactorAlreadyEnabled, TwoFactorNotSetUp
from api.core.crypto import Encryptor, token_hash
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import service as security

ISSUER = "aiadmin"
STEP_SECONDS = 30
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 10  # characters, shown as two groups of five
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_SET = frozenset(_RECOVERY_ALPHABET)


def _secret(settings: Settings, account: Account) -> str:
    if account.totp_secret_encrypted is None:
        raise TwoFactorNotSetUp("start two-factor set-up first")
    return Encryptor(settings).decrypt(account.totp_secret_encrypted)


def _matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step (now, or one either side for clock drift) whose code this is."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now = int(at.timestamp()) // STEP_SECONDS
    for step in (now, now - 1, now + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _normalise(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


def _new_recovery_codes() -> list[str]:
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    return [f"{c[:5]}-{c[5:]}" for c in codes]


async def _store_recovery_codes(session: AsyncSession, settings: Settings, account: Account, at: datetime):
    codes = _new_recovery_codes()
    keyed = [token_hash(settings, _normalise(c)) for c in codes]
    hashes = await asyncio.to_thread(lambda: [hash_password(k) for k in keyed])
    await auth_repo.replace_recovery_codes(session, account.id, hashes, at)
    return codes


def _looks_like_recovery_code(normalised: str) -> bool:
    return len(normalised) == RECOVERY_CODE_LENGTH and set(normalised) <= _RECOVERY_SET


async def _use_recovery_code(
    session: AsyncSession, settings: Settings, account: Account, code: str, at: datetime
) -> bool:
    """Spend the unused recovery code that `code` is, if any: each is stored as an argon2id hash of its keyed
    hash (docs/decisions/0033), so each unused one is tried in turn, off the event loop."""
    normalised = _normalise(code)
    if not _looks_like_recovery_code(normalised):
        return False  # no argon2 work for what cannot be a recovery code
    keyed = token_hash(settings, normalised)
    unused = await auth_repo.unused_recovery_codes(session, account.id)

    def find():
        return next((code_id for code_id, stored in unused if verify_password(stored, keyed)), None)

    found = await asyncio.to_thread(find)
    return found is not None and await auth_repo.spend_recovery_code(session, found, at)


async def _verify(
    session: AsyncSession, settings: Settings, account: Account, code: str, *, recovery: bool, at: datetime
) -> str | InvalidOtp:
    """What kind of code this is when it is good ("totp" or "recovery_code", spent: each works once), else
    the refusal. Only `check` calls it."""
    step = _matching_step(_secret(settings, account), code.strip(), at)
    if step is not None:
        if await accounts.claim_totp_step(session, account.id, step):
            return "totp"
        return InvalidOtp("this code was already used: wait for the next one")
    if recovery and await _use_recovery_code(session, settings, account, code, at):
        return "recovery_code"
    return InvalidOtp("wrong or expired code")


async def check(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str | None,
    *,
    purpose: Purpose,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """THE check of a second factor, wherever one is asked for (sign-in, enrolment, disabling, new recovery
    codes): throttled and logged by api.auth.attempts. A TOTP code of the account's secret (the pending one
    when enrolling), or, once enrolled, a recovery code; each accepted once. The caller commits."""
    if not code or not code.strip():
        raise OtpRequired("this account has two-factor authentication: send the code from your app as `otp`")
    attempt = await attempts.begin(
        session, settings, Factor.SECOND_FACTOR, purpose, email=account.email, account=account, ctx=ctx, at=at
    )
    outcome = await _verify(
        session, settings, account, code, recovery=purpose is not Purpose.ENABLE_2FA, at=at
    )
    if isinstance(outcome, InvalidOtp):
        await attempts.failed(session, settings, attempt, outcome, ctx=ctx, at=at)
    await attempts.passed(session, attempt)
    if outcome == "recovery_code":
        security.record(
            session,
            EventType.SECURITY_RECOVERY_CODE_USED,
            at=at,
            ctx=ctx,
            account=account,
            details={"purpose": purpose.value},
        )


async def setup(session: AsyncSession, settings: Settings, account: Account) -> tuple[str, str]:
    """A new secret (pending until a first code confirms it) and its otpauth:// URI for a QR code.

    It asks for no password: a pending secret does nothing, and turning it on (`enable`) asks for one."""
    if account.two_factor_enabled:
        raise TwoFactorAlreadyEnabled("two-factor authentication is already on: disable it first")
    secret = pyotp.random_base32()
    account.totp_secret_encrypted = Encryptor(settings).encrypt(secret)
    await session.commit()
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account.email, issuer_name=ISSUER)
    return secret, uri


async def enable(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    password: str | None,
    *,
    ctx: RequestContext,
    at: datetime,
) -> list[str]:
    """Turn on the pending secret: the account's password, then a first code from the app."""
    if account.two_factor_enabled:
        raise TwoFactorAlreadyEnabled("two-factor authentication is already on")
    _secret(settings, account)  # set up first
    await attempts.reauthenticate(
        session, settings, account, password, purpose=Purpose.ENABLE_2FA, ctx=ctx, at=at
    )
    await check(session, settings, account, code, purpose=Purpose.ENABLE_2FA, ctx=ctx, at=at)
    account.totp_enabled_at = at
    codes = await _store_recovery_codes(session, settings, account, at)
    security.record(session, EventType.SECURITY_TWO_FACTOR_ENABLED, at=at, ctx=ctx, account=account)
    await session.commit()
    return codes


async def _reauthenticate(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    password: str | None,
    *,
    purpose: Purpose,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Changing the second factor needs it on, the password, and a valid code (TOTP or recovery) from it."""
    if not account.two_factor_enabled:
        raise TwoFactorNotSetUp("two-factor authentication is not on")
    await attempts.reauthenticate(session, settings, account, password, purpose=purpose, ctx=ctx, at=at)
    await check(session, settings, account, code, purpose=purpose, ctx=ctx, at=at)


async def disable(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    password: str | None,
    *,
    ctx: RequestContext,
    at: datetime,
) -> None:
    await _reauthenticate(
        session, settings, account, code, password, purpose=Purpose.DISABLE_2FA, ctx=ctx, at=at
    )
    await clear(session, account)
    security.record(session, EventType.SECURITY_TWO_FACTOR_DISABLED, at=at, ctx=ctx, account=account)
    await session.commit()


async def regenerate_recovery_codes(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    password: str | None,
    *,
    ctx: RequestContext,
    at: datetime,
) -> list[str]:
    await _reauthenticate(
        session, settings, account, code, password, purpose=Purpose.RECOVERY_CODES, ctx=ctx, at=at
    )
    codes = await _store_recovery_codes(session, settings, account, at)
    security.record(session, EventType.SECURITY_RECOVERY_CODES_REGENERATED, at=at, ctx=ctx, account=account)
    await session.commit()
    return codes


async def reset(session: AsyncSession, account: Account, *, ctx: RequestContext, at: datetime) -> None:
    """Remove the second factor (an operator's action, `aiadmin reset-2fa`)."""
    await clear(session, account)
    security.record(session, EventType.SECURITY_TWO_FACTOR_RESET, at=at, ctx=ctx, account=account)
    await session.commit()


async def clear(session: AsyncSession, account: Account) -> None:
    """The second factor gone: secret, enrolment, recovery codes (the caller logs it and commits)."""
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    await auth_repo.delete_recovery_codes(session, account.id)
