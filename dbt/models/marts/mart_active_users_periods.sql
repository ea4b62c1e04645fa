-- Grain: period (calendar week starting Monday, or calendar month) x period start.
with user_days as (
    select day, user_id from {{ ref('fct_user_days') }}
),

registrations as (
    select registered_day from {{ ref('int_registrations') }}
),

periods as (
    select 'week' as period, cast(date_trunc('week', day) as date) as period_start, user_id from user_days
    union all
    select 'month' as period, cast(date_trunc('month', day) as date) as period_start, user_id from user_days
),

active as (
    select period, period_start, cast(count(distinct user_id) as bigint) as active_users
    from periods
    group by period, period_start
),

new_users as (
    select 'week' as period, cast(date_trunc('week', registered_day) as date) as period_start,
        cast(count(*) as bigint) as new_users
    from registrations group by 2
    union all
    select 'month' as period, cast(date_trunc('month', registered_day) as date) as period_start,
        cast(count(*) as bigint) as new_users
    from registrations group by 2
)

select
    coalesce(active.period, new_users.period) as period,
    coalesce(active.period_start, new_users.period_start) as period_start,
    coalesce(active.active_users, 0) as active_users,
    coalesce(new_users.new_users, 0) as new_users
from active
full outer join new_users
    on new_users.period = active.period and new_users.period_start = active.period_start
order by period, period_start
