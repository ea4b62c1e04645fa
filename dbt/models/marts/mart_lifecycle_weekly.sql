-- Grain: calendar week x lifecycle state. Of the users active in a week: new (registered that week),
-- returning (also active the week before), resurrecting (not the week before, but some earlier week).
-- Dormant: active the week before, not this week.
with weeks_active as (
    select distinct user_id, cast(date_trunc('week', day) as date) as week
    from {{ ref('fct_user_days') }}
),

registrations as (
    select user_id, cohort_week from {{ ref('int_registrations') }}
),

all_weeks as (
    select cast(spine.week as date) as week
    from (select min(week) as first_week, max(week) as last_week from weeks_active) as bounds,
        range(bounds.first_week, bounds.last_week + interval 7 day, interval 7 day) as spine(week)
),

states as (
    select
        this_week.week,
        case
            when registrations.cohort_week = this_week.week then 'new'
            when previous.user_id is not null then 'returning'
            else 'resurrecting'
        end as state,
        this_week.user_id
    from weeks_active as this_week
    left join registrations on registrations.user_id = this_week.user_id
    left join weeks_active as previous
        on previous.user_id = this_week.user_id and previous.week = this_week.week - interval 7 day
    union all
    select all_weeks.week, 'dormant' as state, previous.user_id
    from all_weeks
    join weeks_active as previous on previous.week = all_weeks.week - interval 7 day
    left join weeks_active as current_week
        on current_week.user_id = previous.user_id and current_week.week = all_weeks.week
    where current_week.user_id is null
)

select week, state, cast(count(*) as bigint) as users
from states
group by week, state
order by week, state
