from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, computed_field

from api.auth.passwords import MAX_LENGTH, MIN_LENGTH
from api.auth.permissions import ROLE_PERMISSIONS
from api.core.validation import Country, NoNul, Strict

Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH), NoNul]
TypedPassword = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH), NoNul]  # an existing one, checked
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32), NoNul]


def _normalise_email(value: str) -> str:
    return value.strip().lower()


# Registration checks the address; everywhere else an email is only looked up, so any string will do
# (one that is no account's email simply matches nothing).
Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
LookupEmail = Annotated[
    str, StringConstraints(min_length=1, max_length=320), NoNul, AfterValidator(_normalise_email)
]


class RegisterIn(Strict):
    email: Email
    password: Password
    country: Country | None = None
    locale: Literal["en", "ru"] | None = Field(
        default=None, description="language of the texts sent to the account; else from Accept-Language"
    )


class LoginIn(Strict):
    email: LookupEmail
    password: TypedPassword
    otp: Code | None = Field(default=None, description="TOTP code or recovery code, for accounts with 2FA")


class RefreshIn(Strict):
    refresh_token: Secret


class EmailIn(Strict):
    email: LookupEmail


class TokenIn(Strict):
    token: Secret


class ResetPasswordIn(Strict):
    token: Secret
    new_password: Password


class ChangePasswordIn(Strict):
    current_password: TypedPassword
    new_password: Password


class CodeIn(Strict):
    """A code from the authenticator app (or a recovery code), with the password: changing the second factor
    needs both again, so an access token alone cannot."""

    code: Code
    # Empty counts as missing: 403 reauthentication_required says what to do, where a 422 would not.
    password: Annotated[str, Field(max_length=MAX_LENGTH), NoNul] | None = Field(
        default=None, description="the account's password (required: 403 reauthentication_required without)"
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class EndedOut(BaseModel):
    ended: int = Field(description="how many sessions ended")


class AcceptedOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


class StatusOut(BaseModel):
    status: str


class TwoFactorSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once: each works once instead of a TOTP code")


class ApiKeyIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul]


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, store it now")


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    ip: str | None
    user_agent: str | None
    current: bool = False


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str | None = None
    role: str
    plan_code: str
    country: str | None
    locale: str
    is_blocked: bool
    created_at: datetime
    email_verified_at: datetime | None
    two_factor_enabled: bool
    # Its role needs a second factor and it has none yet: it may do nothing else until it enrols.
    must_enrol_two_factor: bool

    @computed_field
    @property
    def permissions(self) -> list[str]:
        """What this account's role may do (the panel shows only the pages these allow)."""
        return sorted(ROLE_PERMISSIONS.get(self.role, frozenset()))
