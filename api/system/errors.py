"""What the system domain refuses."""

from __future__ import annotations

from api.core.errors import Conflict


class PlanExists(Conflict):
    code = "plan_exists"


class PlanInUse(Conflict):
    code = "plan_in_use"
