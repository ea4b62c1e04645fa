-- Grain: event. The events that make a user active (macro user_activity_event_types), of end users only.
select events.*
from {{ ref('stg_usage_events') }} as events
left join {{ ref('stg_accounts') }} as accounts on accounts.user_id = events.user_id
where events.user_id is not null
    and events.event_type in {{ user_activity_event_types() }}
    and not coalesce(accounts.is_staff, false)
    and not events.staff_test  -- a playground call is no one's activity, whoever's account it was
