"""Every table of the OLTP schema, imported in one place for Alembic and for the pipeline's extract."""

from api.core.db import Base
from api.events.models import UsageEvent
from api.quotas.models import QuotaUsage
from api.users.models import Account, Plan

metadata = Base.metadata

__all__ = ["Account", "Plan", "QuotaUsage", "UsageEvent", "metadata"]
