-- Grain: UTC day x country (the event's country; '(unknown)' when none was known).
with activity as (
    select
        day,
        coalesce(country_code, '(unknown)') as country_code,
        cast(count(*) as bigint) as active_users
    from {{ ref('fct_user_days') }}
    group by 1, 2
),

registrations as (
    select
        events.event_date as day,
        coalesce(events.country_code, '(unknown)') as country_code,
        cast(count(*) as bigint) as new_users
    from {{ ref('int_activity_events') }} as events
    where events.event_type = 'user.registered'
    group by 1, 2
),

calls as (
    select
        day,
        country_code,
        cast(count(*) as bigint) as calls,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(cost_usd) as decimal(18, 8)) as cost_usd,
        cast(sum(credits) as decimal(18, 6)) as credits
    from {{ ref('fct_llm_calls') }}
    where staff_test is not true  -- as mart_usage_daily: the staff's playground calls are not usage
    group by 1, 2
),

keys as (
    select day, country_code from activity
    union
    select day, country_code from registrations
    union
    select day, country_code from calls
)

select
    keys.day,
    keys.country_code,
    coalesce(activity.active_users, 0) as active_users,
    coalesce(registrations.new_users, 0) as new_users,
    coalesce(calls.calls, 0) as calls,
    coalesce(calls.input_tokens, 0) as input_tokens,
    coalesce(calls.output_tokens, 0) as output_tokens,
    coalesce(calls.cost_usd, 0) as cost_usd,
    coalesce(calls.credits, 0) as credits
from keys
left join activity using (day, country_code)
left join registrations using (day, country_code)
left join calls using (day, country_code)
