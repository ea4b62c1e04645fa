"""Event type names of the usage-event contract. Extend, never rename: the warehouse keys on them."""

from enum import StrEnum


class EventType(StrEnum):
    USER_REGISTERED = "user.registered"
    USER_LOGIN_SUCCEEDED = "user.login_succeeded"
    USER_LOGIN_FAILED = "user.login_failed"
    USER_BLOCKED = "user.blocked"
    USER_UNBLOCKED = "user.unblocked"
    CHAT_CREATED = "chat.created"
    MESSAGE_SENT = "message.sent"
    LLM_CALL_SUCCEEDED = "llm.call_succeeded"
    LLM_CALL_FAILED = "llm.call_failed"
    QUOTA_EXCEEDED = "quota.exceeded"
    BALANCE_TOPPED_UP = "balance.topped_up"
    BALANCE_CHARGED = "balance.charged"
    BALANCE_REFUNDED = "balance.refunded"
    PLAN_CHANGED = "plan.changed"
