{# The one definition of "active": the event types that mean a user did something themselves.
   A failed login (could be anyone) and staff actions on a user (block, plan change) do not count,
   and staff accounts are never counted as users (int_activity_events). #}
{% macro user_activity_event_types() -%}
    ('user.registered', 'user.login_succeeded', 'chat.created', 'message.sent',
     'llm.call_succeeded', 'llm.call_failed', 'quota.exceeded', 'balance.topped_up')
{%- endmacro %}

{# Days whose events changed since the incremental model was last built: the days to rebuild whole. #}
{% macro changed_days(events_relation, day_column='event_date') -%}
    select distinct {{ day_column }}
    from {{ events_relation }}
    where loaded_at > (select coalesce(max(last_loaded_at), timestamp '1970-01-01') from {{ this }})
{%- endmacro %}
