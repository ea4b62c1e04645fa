"""Input rules shared by the schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold U+0000: refuse it at the door (422) rather than fail in the database (500).
    # (None passes: the rule may sit on an optional field.)
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
SafeStr = Annotated[str, NoNul]
