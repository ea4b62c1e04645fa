-- Grain: UTC day x plan. Revenue: the money top-ups paid (balance.topped_up, its amount in USD), on the
-- plan the user had when paying; provider cost: what the LLM calls cost, on the plan of the call's moment;
-- margin = revenue - provider cost (docs/decisions/0044-bulk-actions-and-revenue.md).
with top_ups as (
    select
        event_date as day,
        coalesce(plan, '(none)') as plan,
        upper(json_extract_string(properties, '$.currency')) as currency,
        cast(json_extract_string(properties, '$.amount') as decimal(18, 6)) as amount,
        credits,
        user_id
    from {{ ref('stg_usage_events') }}
    where event_type = 'balance.topped_up'
),

revenue as (
    select
        day,
        plan,
        cast(count(*) as bigint) as top_ups,
        cast(count(distinct user_id) as bigint) as paying_users,
        cast(coalesce(sum(amount) filter (where currency = 'USD'), 0) as decimal(18, 6)) as revenue_usd,
        cast(count(*) filter (where currency is distinct from 'USD') as bigint) as top_ups_other_currency,
        cast(coalesce(sum(credits), 0) as decimal(18, 6)) as credits_sold
    from top_ups
    group by 1, 2
),

costs as (
    select
        day,
        plan,
        cast(count(*) as bigint) as calls,
        cast(sum(cost_usd) as decimal(18, 8)) as provider_cost_usd,
        cast(sum(credits) as decimal(18, 6)) as credits_charged
    from {{ ref('fct_llm_calls') }}
    group by 1, 2
)

select
    coalesce(revenue.day, costs.day) as day,
    coalesce(revenue.plan, costs.plan) as plan,
    coalesce(revenue.top_ups, 0) as top_ups,
    coalesce(revenue.paying_users, 0) as paying_users,
    coalesce(revenue.revenue_usd, 0) as revenue_usd,
    coalesce(revenue.top_ups_other_currency, 0) as top_ups_other_currency,
    coalesce(revenue.credits_sold, 0) as credits_sold,
    coalesce(costs.calls, 0) as calls,
    coalesce(costs.provider_cost_usd, 0) as provider_cost_usd,
    coalesce(costs.credits_charged, 0) as credits_charged,
    cast(coalesce(revenue.revenue_usd, 0) - coalesce(costs.provider_cost_usd, 0) as decimal(18, 8))
        as margin_usd
from revenue
full outer join costs on revenue.day = costs.day and revenue.plan = costs.plan
