from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from api.auth.schemas import Code, TypedPassword
from api.core.validation import Country, Strict


class QuotaOut(BaseModel):
    used: int
    limit: int | None
    remaining: int | None
    resets_at: datetime | None


class UsageOut(BaseModel):
    plan: str
    requests_today: QuotaOut
    tokens_today: QuotaOut
    tokens_this_month: QuotaOut
    chats: QuotaOut


def _display_name(value: str | None) -> str | None:
    # Trimmed; a name of whitespace is no name. Control and format characters (newlines, bidi overrides,
    # zero-width marks) are refused: a name is one line shown to people, and one that hides text is a lure.
    if value is None:
        return None
    value = value.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for ch in value):
        raise ValueError("must not contain control or invisible formatting characters")
    if not value:
        raise ValueError("must not be blank: send null to remove the name")
    return value


DisplayName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_display_name)]


class ProfileIn(Strict):
    """The fields to change (at least one); a field left out stays as it is, null removes it. The email is
    not changed here."""

    display_name: DisplayName | None = Field(
        default=None, description="1-100 characters, one line; null: none"
    )
    locale: Literal["en", "ru"] = Field(
        default="en", description="the language of what is sent to the account"
    )
    country: Country | None = Field(default=None, description="ISO 3166-1 alpha-2 (`DE`); null: none")

    @model_validator(mode="after")
    def _something(self) -> ProfileIn:
        if not self.model_fields_set:
            raise ValueError("send at least one of display_name, locale, country")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class DeleteAccountIn(Strict):
    password: TypedPassword = Field(description="the account's password, checked again")
    code: Code | None = Field(default=None, description="a TOTP or recovery code, when 2FA is on")


class PlanChoiceIn(Strict):
    plan: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$", description="the code of a public plan")]


class PlanChosenOut(BaseModel):
    """The account's plan after a purchase (or a move back to the default plan)."""

    plan: str = Field(description="the plan's code, in force at once")
    plan_expires_at: datetime | None = Field(
        description="when the plan ends (UTC) and the account goes back to the default plan; null: never"
    )
    charged: Decimal = Field(description="the credits taken (0 for the default plan)")
    balance: Decimal = Field(description="the balance after the purchase, in credits")
