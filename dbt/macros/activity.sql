{# The one definition of "active": the event types that mean a user did something themselves.
   A failed login (could be anyone) and staff actions on a user (block, plan change) do not count. #}
{% macro user_activity_event_types() -%}
    ('user.registered', 'user.login_succeeded', 'chat.created', 'message.sent',
     'llm.call_succeeded', 'llm.call_failed', 'quota.exceeded', 'balance.topped_up')
{%- endmacro %}
