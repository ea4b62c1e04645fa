"""Password hashing (argon2id) and access tokens (JWT, HS256 pinned, audience and type checked)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.core.settings import Settings
from api.core.types import utcnow

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a token type, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    """argon2 takes ~20 ms of CPU: off the event loop, so other requests go on meanwhile."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehash it at the next login)."""
    return _hasher.check_needs_rehash(password_hash)


# Verified against when the email is unknown, so that a miss costs the same time as a wrong password.
DUMMY_PASSWORD_HASH = hash_password("not-a-real-password-just-for-timing")


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class AccessClaims:
    account_id: uuid.UUID
    session_id: uuid.UUID


def issue_access_token(
    settings: Settings, account_id: uuid.UUID, session_id: uuid.UUID, *, now: datetime
) -> AccessToken:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(account_id),
        "sid": str(session_id),
        "aud": settings.jwt_audience,
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=_ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(settings: Settings, token: str) -> AccessClaims | None:
    """Who and which session a valid access token is for; None for anything expired, tampered or foreign."""
    verified = _verify(settings.secret_key.get_secret_value(), settings.jwt_audience, token)
    if verified is None or verified[1] <= utcnow().timestamp():
        return None
    return verified[0]


@lru_cache(maxsize=4096)
def _verify(secret: str, audience: str, token: str) -> tuple[AccessClaims, int] | None:
    """The claims and expiry of a well-signed access token. Everything here depends on the token's bytes
    only, so it is cached (a client sends the same token with every request); the expiry is checked by
    the caller against the clock."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=audience,
            options={"require": ["sub", "sid", "exp", "iat", "aud", "typ"], "verify_exp": False},
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE or not isinstance(claims["exp"], int):
            return None
        return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])), claims["exp"]
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
