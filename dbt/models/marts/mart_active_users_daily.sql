-- Grain: UTC day, from the first to the last day with any event (days without activity included).
-- Rolling windows without a range join: each active day of a user counts them in the window of every
-- day until their next active day or the window's end (intervals that never overlap for one user), so
-- WAU and MAU on a day are running sums of interval starts and ends (linear in user-days).
with user_days as (
    select
        user_id,
        day,
        lead(day) over (partition by user_id order by day) as next_day
    from {{ ref('fct_user_days') }}
),

intervals as (
    select
        day as first_day,
        least(day + 6, coalesce(next_day - 1, day + 6)) as last_wau_day,
        least(day + 29, coalesce(next_day - 1, day + 29)) as last_mau_day
    from user_days
),

changes as (
    select first_day as day, 1 as dau, 1 as wau, 1 as mau from intervals
    union all
    select first_day + 1 as day, -1 as dau, 0 as wau, 0 as mau from intervals
    union all
    select last_wau_day + 1 as day, 0 as dau, -1 as wau, 0 as mau from intervals
    union all
    select last_mau_day + 1 as day, 0 as dau, 0 as wau, -1 as mau from intervals
),

per_day as (
    select day, sum(dau) as dau, sum(wau) as wau, sum(mau) as mau from changes group by day
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
        sum(coalesce(per_day.dau, 0)) over running as dau,
        sum(coalesce(per_day.wau, 0)) over running as wau,
        sum(coalesce(per_day.mau, 0)) over running as mau
    from days
    left join per_day on per_day.day = days.day
    window running as (order by days.day rows between unbounded preceding and current row)
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
