-- Grain: UTC day, from the first to the last day with any event (days without activity included).
with user_days as (
    select day, user_id from {{ ref('fct_user_days') }}
),

bounds as (
    select min(event_date) as first_day, max(event_date) as last_day from {{ ref('stg_usage_events') }}
),

days as (
    select cast(spine.day as date) as day
    from bounds, range(bounds.first_day, bounds.last_day + interval 1 day, interval 1 day) as spine(day)
),

rolling as (
    select
        days.day,
        count(distinct user_days.user_id) filter (where user_days.day = days.day) as dau,
        count(distinct user_days.user_id) filter (where user_days.day > days.day - 7) as wau,
        count(distinct user_days.user_id) as mau
    from days
    left join user_days
        on user_days.day > days.day - 30 and user_days.day <= days.day
    group by days.day
),

registrations as (
    select registered_day as day, count(*) as new_users
    from {{ ref('int_registrations') }}
    group by registered_day
)

select
    rolling.day,
    cast(rolling.dau as bigint) as dau,
    cast(rolling.wau as bigint) as wau,
    cast(rolling.mau as bigint) as mau,
    case when rolling.mau > 0 then round(rolling.dau / rolling.mau, 4) end as stickiness,
    cast(coalesce(registrations.new_users, 0) as bigint) as new_users
from rolling
left join registrations on registrations.day = rolling.day
order by rolling.day
