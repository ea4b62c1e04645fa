-- Grain: UTC day x model x provider x assistant role x plan x country (null dimensions as '(none)').
select
    day,
    model_id,
    provider,
    role_id,
    plan,
    country_code,
    cast(count(*) as bigint) as calls,
    cast(count(*) filter (where succeeded) as bigint) as completions,
    cast(count(*) filter (where not succeeded) as bigint) as failed_calls,
    cast(sum(input_tokens) as bigint) as input_tokens,
    cast(sum(output_tokens) as bigint) as output_tokens,
    cast(sum(cost_usd) as decimal(18, 8)) as cost_usd,
    cast(sum(credits) as decimal(18, 6)) as credits,
    cast(count(distinct user_id) as bigint) as users
from {{ ref('fct_llm_calls') }}
where staff_test is not true  -- the staff's playground calls are not usage (docs/decisions/0058)
group by day, model_id, provider, role_id, plan, country_code
