with events as (
    select * from {{ ref('stg_usage_events') }}
),

days as (
    select cast(day as date) as day
    from range(
        (select min(event_date) from events),
        (select max(event_date) from events) + interval 1 day,
        interval 1 day
    ) as spine(day)
),

activity as (
    select
        event_date as day,
        cast(count(distinct user_id) filter (
            where event_type in {{ user_activity_event_types() }}
        ) as bigint) as active_users,
        cast(count(*) filter (where event_type = 'llm.call_succeeded') as bigint) as completions,
        cast(sum(input_tokens) filter (where event_type = 'llm.call_succeeded') as bigint) as input_tokens,
        cast(sum(output_tokens) filter (where event_type = 'llm.call_succeeded') as bigint) as output_tokens
    from events
    group by event_date
)

select
    days.day,
    coalesce(activity.active_users, 0) as active_users,
    coalesce(activity.completions, 0) as completions,
    coalesce(activity.input_tokens, 0) as input_tokens,
    coalesce(activity.output_tokens, 0) as output_tokens
from days
left join activity on activity.day = days.day
order by days.day
