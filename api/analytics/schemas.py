"""The analytics API's answers that are not a plain table: the experiments' comparison (decision 0060)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ExperimentMetric = Literal[
    "error_rate", "latency_p50_ms", "latency_p95_ms", "tokens_per_call", "cost_per_call_usd",
    "feedback_positive_share",
]  # fmt: skip


class ExperimentVariantFigures(BaseModel):
    """One variant over the whole experiment: its own calls (not the excluded ones nor the cache hits), each
    figure with its 95 % interval (`…_low`, `…_high`; null without data, or an open bound)."""

    variant: str
    calls: int
    users: int
    errors: int
    cache_hits: int
    excluded: int = Field(description="calls on the caller's or the plan's model, not the variant's")
    error_rate: float | None
    error_rate_low: float | None
    error_rate_high: float | None
    latency_p50_ms: float | None
    latency_p50_low: float | None
    latency_p50_high: float | None
    latency_p95_ms: float | None
    latency_p95_low: float | None
    latency_p95_high: float | None
    tokens_per_call: float | None
    tokens_per_call_low: float | None
    tokens_per_call_high: float | None
    cost_per_call_usd: float | None
    cost_per_call_low: float | None
    cost_per_call_high: float | None
    feedback_count: int
    feedback_positive_share: float | None
    feedback_positive_low: float | None
    feedback_positive_high: float | None


class ExperimentComparison(BaseModel):
    """A variant against the control on one metric: the difference (variant - control), relative to the
    control, its 95 % interval (null for the latency percentiles) and what it means for the business."""

    variant: str
    versus: str
    metric: ExperimentMetric
    control_value: float | None
    value: float | None
    difference: float | None
    relative: float | None
    low: float | None
    high: float | None
    outcome: Literal["better", "worse", "no_difference", "too_few"]


class ExperimentReport(BaseModel):
    """An experiment's comparison as of the last publication of the warehouse (`refreshed_at`)."""

    experiment_id: str
    confidence: float
    control: str
    min_calls: int
    min_feedback: int
    refreshed_at: datetime | None
    variants: list[ExperimentVariantFigures]
    comparisons: list[ExperimentComparison]
