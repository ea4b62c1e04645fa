"""TOTP (RFC 6238: 30 s steps, 6 digits, SHA-1, as authenticator apps expect) and recovery codes.

A time step is accepted once: the last used step is kept and only later ones pass, so an observed
code cannot be replayed. Recovery codes are stored as keyed hashes and work once each.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.models import Account
from api.auth import repository as auth_repo
from api.auth.errors import InvalidOtp, OtpRequired, TwoFactorAlreadyEnabled, TwoFactorNotSetUp
from api.core.crypto import Encryptor, token_hash
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import service as security

ISSUER = "aiadmin"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


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
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    return [f"{c[:5]}-{c[5:]}" for c in codes]


async def _store_recovery_codes(session: AsyncSession, settings: Settings, account: Account, at: datetime):
    codes = _new_recovery_codes()
    hashes = [token_hash(settings, _normalise(c)) for c in codes]
    await auth_repo.replace_recovery_codes(session, account.id, hashes, at)
    return codes


async def setup(session: AsyncSession, settings: Settings, account: Account) -> tuple[str, str]:
    """A new secret (pending until a first code confirms it) and its otpauth:// URI for a QR code."""
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
    *,
    ctx: RequestContext,
    at: datetime,
) -> list[str]:
    if account.two_factor_enabled:
        raise TwoFactorAlreadyEnabled("two-factor authentication is already on")
    step = _matching_step(_secret(settings, account), code.strip(), at)
    if step is None or not await accounts.claim_totp_step(session, account.id, step):
        raise InvalidOtp("wrong or expired code")
    account.totp_enabled_at = at
    codes = await _store_recovery_codes(session, settings, account, at)
    security.record(session, EventType.SECURITY_TWO_FACTOR_ENABLED, at=at, ctx=ctx, account=account)
    await session.commit()
    return codes


async def verify(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str | None,
    *,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Check a TOTP code or a recovery code (each accepted once); the caller commits."""
    if not code or not code.strip():
        raise OtpRequired("this account has two-factor authentication: send the code from your app as `otp`")
    step = _matching_step(_secret(settings, account), code.strip(), at)
    if step is not None:
        if await accounts.claim_totp_step(session, account.id, step):
            return
        raise InvalidOtp("this code was already used: wait for the next one")
    if await auth_repo.use_recovery_code(session, account.id, token_hash(settings, _normalise(code)), at):
        security.record(session, EventType.SECURITY_RECOVERY_CODE_USED, at=at, ctx=ctx, account=account)
        return
    raise InvalidOtp("wrong or expired code")


async def _verify_enabled(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    *,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Changing the second factor needs it on, and a valid code (TOTP or recovery) from it."""
    if not account.two_factor_enabled:
        raise TwoFactorNotSetUp("two-factor authentication is not on")
    await verify(session, settings, account, code, ctx=ctx, at=at)


async def disable(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    *,
    ctx: RequestContext,
    at: datetime,
) -> None:
    await _verify_enabled(session, settings, account, code, ctx=ctx, at=at)
    await _clear(session, account)
    security.record(session, EventType.SECURITY_TWO_FACTOR_DISABLED, at=at, ctx=ctx, account=account)
    await session.commit()


async def regenerate_recovery_codes(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    code: str,
    *,
    ctx: RequestContext,
    at: datetime,
) -> list[str]:
    await _verify_enabled(session, settings, account, code, ctx=ctx, at=at)
    codes = await _store_recovery_codes(session, settings, account, at)
    security.record(session, EventType.SECURITY_RECOVERY_CODES_REGENERATED, at=at, ctx=ctx, account=account)
    await session.commit()
    return codes


async def reset(session: AsyncSession, account: Account, *, ctx: RequestContext, at: datetime) -> None:
    """Remove the second factor (an operator's action, `aiadmin reset-2fa`)."""
    await _clear(session, account)
    security.record(session, EventType.SECURITY_TWO_FACTOR_RESET, at=at, ctx=ctx, account=account)
    await session.commit()


async def _clear(session: AsyncSession, account: Account) -> None:
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    await auth_repo.delete_recovery_codes(session, account.id)
