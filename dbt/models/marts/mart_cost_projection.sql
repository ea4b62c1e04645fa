-- Grain: calendar month with any LLM call. The cost so far and a straight-line projection to month end:
-- cost to date / days elapsed x days in the month, where days elapsed run from the 1st to the last day
-- with data (a finished month projects to its actual cost).
with months as (
    select
        cast(date_trunc('month', day) as date) as month,
        sum(cost_usd) as cost_usd,
        sum(credits) as credits,
        max(day) as last_day
    from {{ ref('fct_llm_calls') }}
    group by 1
)

select
    month,
    cast(cost_usd as decimal(18, 8)) as cost_usd_to_date,
    cast(credits as decimal(18, 6)) as credits_to_date,
    cast(date_diff('day', month, last_day) + 1 as bigint) as days_elapsed,
    cast(date_diff('day', month, cast(month + interval 1 month as date)) as bigint) as days_in_month,
    cast(
        cost_usd / (date_diff('day', month, last_day) + 1)
        * date_diff('day', month, cast(month + interval 1 month as date))
        as decimal(18, 8)
    ) as projected_cost_usd
from months
order by month
