"""Every table of the OLTP schema, imported in one place for Alembic and for the pipeline's extract."""

from api.accounts.models import Account, Plan
from api.alerts.models import AlertEvent, AlertRule
from api.audit.models import AuditEntry
from api.auth.models import ApiKey, AuthSession, OneTimeToken, RecoveryCode, RefreshToken
from api.billing.models import LedgerEntry
from api.cache.models import CachedResponse, CacheRule
from api.catalogue.models import (
    AssistantRole,
    AssistantRoleVersion,
    Experiment,
    ExperimentVariant,
    LlmModel,
    ModelAlias,
    ModelPrice,
    ModelRoute,
    Provider,
)
from api.chats.models import Chat, Message
from api.core.app_settings import AppSetting
from api.core.db import Base
from api.core.idempotency import IdempotencyRecord
from api.core.rate_limit import RateLimitHit
from api.events.models import UsageEvent
from api.feedback.models import CompletionFeedback
from api.guardrails.models import GuardrailPolicy, ModerationFlag
from api.mail.models import EmailMessage
from api.notifications.models import Broadcast, Notification, NotificationRule
from api.quotas.models import QuotaUsage
from api.security.models import AttemptCounter, SecurityEvent
from api.system.models import ErrorEntry

metadata = Base.metadata

# Kept by migrations outside the models: PostgreSQL's writing-transaction id on usage_events, which only the
# pipeline's extract reads (migration 0007, pipelines/extract.py).
DATABASE_ONLY = {("column", "txid"), ("index", "ix_usage_events_txid")}


def include_object(object_, name, type_, reflected, compare_to) -> bool:
    """For Alembic's comparisons: leave alone what exists in the database only on purpose."""
    return not (reflected and compare_to is None and (type_, name) in DATABASE_ONLY)


__all__ = [
    "Account",
    "AlertEvent",
    "AlertRule",
    "ApiKey",
    "AppSetting",
    "AssistantRole",
    "AssistantRoleVersion",
    "AttemptCounter",
    "AuditEntry",
    "AuthSession",
    "Broadcast",
    "CacheRule",
    "CachedResponse",
    "Chat",
    "CompletionFeedback",
    "EmailMessage",
    "ErrorEntry",
    "Experiment",
    "ExperimentVariant",
    "GuardrailPolicy",
    "IdempotencyRecord",
    "LedgerEntry",
    "LlmModel",
    "Message",
    "ModelAlias",
    "ModelPrice",
    "ModelRoute",
    "ModerationFlag",
    "Notification",
    "NotificationRule",
    "OneTimeToken",
    "Plan",
    "Provider",
    "QuotaUsage",
    "RateLimitHit",
    "RecoveryCode",
    "RefreshToken",
    "SecurityEvent",
    "UsageEvent",
    "include_object",
    "metadata",
]
