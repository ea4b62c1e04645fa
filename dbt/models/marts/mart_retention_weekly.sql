-- Grain: registration week (cohort) x weeks since registration (0 = the registration week).
with cohorts as (
    select user_id, cohort_week from {{ ref('int_registrations') }}
),

activity as (
    select distinct user_id, cast(date_trunc('week', day) as date) as active_week
    from {{ ref('fct_user_days') }}
),

last_week as (
    select cast(date_trunc('week', max(event_date)) as date) as week from {{ ref('stg_usage_events') }}
),

cohort_sizes as (
    select cohort_week, count(*) as cohort_size from cohorts group by cohort_week
),

grid as (
    select cohort_sizes.cohort_week, cohort_sizes.cohort_size, offsets.week_number
    from cohort_sizes, last_week,
        range(0, cast(date_diff('week', cohort_sizes.cohort_week, last_week.week) as bigint) + 1)
            as offsets(week_number)
),

retained as (
    select
        cohorts.cohort_week,
        cast(date_diff('week', cohorts.cohort_week, activity.active_week) as bigint) as week_number,
        count(distinct cohorts.user_id) as active_users
    from cohorts
    join activity on activity.user_id = cohorts.user_id and activity.active_week >= cohorts.cohort_week
    group by 1, 2
)

select
    grid.cohort_week,
    grid.week_number,
    cast(grid.cohort_size as bigint) as cohort_size,
    cast(coalesce(retained.active_users, 0) as bigint) as active_users,
    round(100.0 * coalesce(retained.active_users, 0) / grid.cohort_size, 2) as retention_pct
from grid
left join retained
    on retained.cohort_week = grid.cohort_week and retained.week_number = grid.week_number
order by grid.cohort_week, grid.week_number
