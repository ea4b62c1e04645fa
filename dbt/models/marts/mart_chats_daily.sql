-- Grain: UTC day with any event. Chats, messages, completions, errors and refusals of end users and staff
-- alike (everything that reached the gateway).
with events as (
    select * from {{ ref('stg_usage_events') }}
)

select
    event_date as day,
    cast(count(*) filter (where event_type = 'chat.created') as bigint) as chats_created,
    cast(count(*) filter (where event_type = 'message.sent') as bigint) as messages_sent,
    cast(count(*) filter (where event_type = 'llm.call_succeeded') as bigint) as completions,
    cast(count(*) filter (where event_type = 'llm.call_failed') as bigint) as failed_calls,
    round(
        count(*) filter (where event_type = 'llm.call_failed')
        / nullif(count(*) filter (where event_type in ('llm.call_succeeded', 'llm.call_failed')), 0),
        4
    ) as error_rate,
    cast(count(*) filter (where event_type in ('quota.exceeded', 'balance.insufficient')) as bigint)
        as refusals
from events
group by event_date
order by event_date
