-- Grain: UTC day (the Overview's series): DAU, completions and tokens in and out.
select
    active.day,
    active.dau as active_users,
    cast(coalesce(sum(usage.completions), 0) as bigint) as completions,
    cast(coalesce(sum(usage.input_tokens), 0) as bigint) as input_tokens,
    cast(coalesce(sum(usage.output_tokens), 0) as bigint) as output_tokens
from {{ ref('mart_active_users_daily') }} as active
left join {{ ref('mart_usage_daily') }} as usage on usage.day = active.day
group by active.day, active.dau
order by active.day
