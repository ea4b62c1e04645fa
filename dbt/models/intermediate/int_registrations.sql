-- Grain: user. When each end user registered (their user.registered event) and their cohort week.
select
    user_id,
    min(occurred_at) as registered_at,
    cast(min(event_date) as date) as registered_day,
    cast(date_trunc('week', min(event_date)) as date) as cohort_week
from {{ ref('int_activity_events') }}
where event_type = 'user.registered'
group by user_id
