-- Grain: UTC day x model x assistant role x role version x provider x plan: the completions whose latest
-- score was given that day (int_feedback_latest), counted once each (decision 0054).
select
    day,
    model_id,
    role_id,
    role_version,
    provider,
    plan,
    cast(count(*) as bigint) as scores,
    cast(count(*) filter (where rating = 'up') as bigint) as ratings_up,
    cast(count(*) filter (where rating = 'down') as bigint) as ratings_down,
    cast(count(value) as bigint) as values_count,
    cast(coalesce(sum(value), 0) as bigint) as values_sum,
    cast(avg(value) as decimal(6, 4)) as value_avg,
    cast(count(*) filter (where positive) as bigint) as positive,
    cast(count(*) filter (where positive) / count(*) as decimal(6, 4)) as share_positive,
    cast(count(*) filter (where commented) as bigint) as commented
from {{ ref('int_feedback_latest') }}
group by day, model_id, role_id, role_version, provider, plan
