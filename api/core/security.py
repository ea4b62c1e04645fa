"""Password hashing (argon2id) and access tokens (JWT, HS256 pinned, audience and type checked)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.core.settings import Settings

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a token type, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the email is unknown, so that a miss costs the same time as a wrong password.
DUMMY_PASSWORD_HASH = hash_password("not-a-real-password-just-for-timing")


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


def issue_access_token(settings: Settings, account_id: uuid.UUID, *, now: datetime) -> AccessToken:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(account_id),
        "aud": settings.jwt_audience,
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=_ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The account id of a valid access token, or None for anything expired, tampered or foreign."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[_ALGORITHM],
            audience=settings.jwt_audience,
            options={"require": ["sub", "exp", "iat", "aud", "typ"]},
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            return None
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        return None
