{{ config(materialized='incremental', unique_key=['day', 'user_id'], incremental_strategy='delete+insert') }}

-- Grain: user x UTC day on which the user was active. A day with new events is rebuilt whole.
with events as (
    select * from {{ ref('int_activity_events') }}
    {% if is_incremental() %}
    where event_date in ({{ changed_days(ref('int_activity_events')) }})
    {% endif %}
)

select
    event_date as day,
    user_id,
    cast(count(*) as bigint) as events,
    cast(count(*) filter (where event_type = 'llm.call_succeeded') as bigint) as completions,
    cast(count(*) filter (where event_type = 'llm.call_failed') as bigint) as failed_calls,
    cast(count(*) filter (where event_type = 'chat.created') as bigint) as chats_created,
    cast(count(*) filter (where event_type = 'message.sent') as bigint) as messages_sent,
    cast(coalesce(sum(input_tokens) filter (where event_type = 'llm.call_succeeded'), 0) as bigint)
        as input_tokens,
    cast(coalesce(sum(output_tokens) filter (where event_type = 'llm.call_succeeded'), 0) as bigint)
        as output_tokens,
    cast(coalesce(sum(cost_usd) filter (where event_type = 'llm.call_succeeded'), 0) as decimal(18, 8))
        as cost_usd,
    cast(coalesce(sum(credits) filter (where event_type = 'llm.call_succeeded'), 0) as decimal(18, 6))
        as credits,
    max(occurred_at) as last_event_at,
    arg_max(country_code, occurred_at) as country_code,
    max(loaded_at) as last_loaded_at
from events
group by event_date, user_id
