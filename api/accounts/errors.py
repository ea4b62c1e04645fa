"""Errors about accounts and plans that several domains raise."""

from __future__ import annotations

from api.core.errors import AppError


class UnknownPlan(AppError):
    status_code = 422
    code = "unknown_plan"
