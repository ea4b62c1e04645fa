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
    BALANCE_INSUFFICIENT = "balance.insufficient"
    BALANCE_ADJUSTED = "balance.adjusted"
    USER_EMAIL_CONFIRMED = "user.email_confirmed"
    USER_LOGGED_OUT = "user.logged_out"
    USER_LOGGED_OUT_EVERYWHERE = "user.logged_out_everywhere"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_PROFILE_UPDATED = "user.profile_updated"
    # The account erased at its own request (docs/decisions/0047): its id stays on every event.
    USER_DELETED = "user.deleted"
    # A completion scored by its caller (docs/decisions/0054): every score, a change of mind included.
    FEEDBACK_GIVEN = "feedback.given"
    # A guardrail acted on a call (docs/decisions/0056): personal data taken out of its prompt (counts by
    # kind, never the text), or the call refused by a content rule (the rule, never the text).
    GUARDRAIL_REDACTED = "guardrail.redacted"
    GUARDRAIL_BLOCKED = "guardrail.blocked"
    SECURITY_LOCKOUT = "security.lockout"
    SECURITY_REFRESH_REUSED = "security.refresh_reused"
    SECURITY_PASSWORD_CHANGED = "security.password_changed"
    SECURITY_PASSWORD_RESET_REQUESTED = "security.password_reset_requested"
    SECURITY_PASSWORD_RESET = "security.password_reset"
    SECURITY_TWO_FACTOR_ENABLED = "security.two_factor_enabled"
    SECURITY_TWO_FACTOR_DISABLED = "security.two_factor_disabled"
    SECURITY_TWO_FACTOR_RESET = "security.two_factor_reset"
    SECURITY_RECOVERY_CODE_USED = "security.recovery_code_used"
    SECURITY_RECOVERY_CODES_REGENERATED = "security.recovery_codes_regenerated"
    SECURITY_API_KEY_CREATED = "security.api_key_created"
    SECURITY_API_KEY_REVOKED = "security.api_key_revoked"
    # A wrong password or second factor where one was asked again to change the second factor.
    SECURITY_REAUTHENTICATION_FAILED = "security.reauthentication_failed"


# What makes a user active (registered, logged in, chatted, called a model, was refused by a quota, topped
# up): the API's live figures use it, and dbt's macro `user_activity_event_types` must list the same
# (tests/api/system/test_live.py compares them).
USER_ACTIVITY = frozenset(
    {
        EventType.USER_REGISTERED,
        EventType.USER_LOGIN_SUCCEEDED,
        EventType.CHAT_CREATED,
        EventType.MESSAGE_SENT,
        EventType.LLM_CALL_SUCCEEDED,
        EventType.LLM_CALL_FAILED,
        EventType.QUOTA_EXCEEDED,
        EventType.BALANCE_TOPPED_UP,
    }
)
LLM_CALLS = frozenset({EventType.LLM_CALL_SUCCEEDED, EventType.LLM_CALL_FAILED})
