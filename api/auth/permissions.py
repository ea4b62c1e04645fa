"""The one role → permission table. Every route declares the permission it needs (or that it is public).

docs/permissions.md explains it as a matrix; tests/api/auth/test_permissions.py checks every route against it.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ACCOUNT_SELF = "account:self"  # one's own profile, password, 2FA, sessions, API keys, login history
    LLM_USE = "llm:use"  # the OpenAI-compatible endpoints
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"  # block, change plan, adjust balance
    USERS_IMPERSONATE = "users:impersonate"
    CONVERSATIONS_READ = "conversations:read"  # read a user's chats (moderation)
    MODERATION_REVIEW = "moderation:review"  # the moderation queue: list and dismiss flags
    CATALOGUE_WRITE = "catalogue:write"  # models and assistant roles
    PROVIDERS_WRITE = "providers:write"  # provider keys
    SETTINGS_WRITE = "settings:write"  # plans, limits, global settings
    NOTIFICATIONS_SEND = "notifications:send"  # broadcasts, notification rules, the delivery log
    ALERTS_WRITE = "alerts:write"  # alert rules (their history is health:read)
    ANALYTICS_READ = "analytics:read"
    AUDIT_READ = "audit:read"
    SECURITY_READ = "security:read"  # everyone's login history and the security log
    HEALTH_READ = "health:read"  # the system's health: database, warehouse, pipeline, providers


P = Permission
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "moderator": frozenset(
        {
            P.ACCOUNT_SELF,
            P.LLM_USE,
            P.USERS_READ,
            P.USERS_WRITE,
            P.CONVERSATIONS_READ,
            P.MODERATION_REVIEW,
            P.ANALYTICS_READ,
            P.AUDIT_READ,
            P.HEALTH_READ,
        }
    ),
    "analyst": frozenset({P.ACCOUNT_SELF, P.LLM_USE, P.USERS_READ, P.ANALYTICS_READ, P.HEALTH_READ}),
    "viewer": frozenset({P.ACCOUNT_SELF, P.ANALYTICS_READ, P.HEALTH_READ}),
    "user": frozenset({P.ACCOUNT_SELF, P.LLM_USE}),
}

# Personal API keys authenticate only these (the OpenAI-compatible endpoints), never account management.
API_KEY_PERMISSIONS = frozenset({P.LLM_USE})


def allowed(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
