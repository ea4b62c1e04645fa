-- Grain: UTC day x plan x refusal code x metric. A refusal: a call refused for a plan limit
-- (quota.exceeded) or for the balance (balance.insufficient).
select
    event_date as day,
    coalesce(plan, '(none)') as plan,
    coalesce(error_code, event_type) as error_code,
    coalesce(json_extract_string(properties, '$.metric'), '(none)') as metric,
    cast(count(*) as bigint) as refusals,
    cast(count(distinct user_id) as bigint) as users
from {{ ref('stg_usage_events') }}
where event_type in ('quota.exceeded', 'balance.insufficient')
group by 1, 2, 3, 4
