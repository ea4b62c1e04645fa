"""Input rules shared by the schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold U+0000: refuse it at the door (422) rather than fail in the database (500).
    # (None passes: the rule may sit on an optional field.)
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
SafeStr = Annotated[str, NoNul]


def _instant(value: datetime) -> datetime:
    # A moment as an aware UTC datetime (naive: taken as UTC). One that UTC cannot hold (0001-01-01T00:00
    # at +00:01 is in year 0) is a 422 here, not an OverflowError in the database layer.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range in UTC") from None


Instant = Annotated[datetime, AfterValidator(_instant)]


# An ISO 3166 alpha-2 country code, upper-cased.
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$"), AfterValidator(str.upper)]


class Strict(BaseModel):
    """A request body that refuses unknown fields (422)."""

    model_config = ConfigDict(extra="forbid")
