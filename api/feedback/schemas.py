"""A score of a completion: a thumb (`rating`) or a number (`value`), never both, and a comment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from api.core.validation import NoNul, Strict
from api.feedback.models import HIGHEST, LOWEST

COMMENT_MAX = 2000


class FeedbackIn(Strict):
    """`{"rating": "up"|"down"}` or `{"value": 1..5}`, with an optional `comment` (at most 2,000 characters,
    no NUL). Anything else, both scores or none, is 422 `validation_error`."""

    rating: Literal["up", "down"] | None = None
    value: Annotated[int | None, Field(ge=LOWEST, le=HIGHEST, strict=True)] = None
    comment: Annotated[str | None, Field(max_length=COMMENT_MAX), NoNul] = None

    @model_validator(mode="after")
    def _one_score(self) -> FeedbackIn:
        if (self.rating is None) == (self.value is None):
            raise ValueError("give exactly one of `rating` (up or down) and `value` (1 to 5)")
        return self


class FeedbackOut(Strict):
    """The completion's score as kept now (the latest one sent)."""

    completion_id: str  # chatcmpl-<hex>, as the completion's `id`
    rating: Literal["up", "down"] | None
    value: int | None
    comment: str | None
    created_at: datetime  # first scored
    updated_at: datetime  # last scored
