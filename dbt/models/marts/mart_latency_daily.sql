-- Grain: UTC day x provider x model. Calls and errors count every call; the latency percentiles are the
-- one definition of decision 0042 (nearest rank over successful calls, on 5% buckets), picked from
-- mart_latency_histogram_daily exactly as warehouse/queries.py latency() picks them for a range.
with outcomes as (
    select
        day,
        provider,
        model_id,
        cast(count(*) as bigint) as calls,
        cast(count(*) filter (where not succeeded) as bigint) as errors
    from {{ ref('fct_llm_calls') }}
    group by day, provider, model_id
),

running as (
    select
        day,
        provider,
        model_id,
        bucket_upper_ms,
        sum(calls) over (partition by day, provider, model_id order by bucket_upper_ms) as at_or_below,
        sum(calls) over (partition by day, provider, model_id) as measured
    from {{ ref('mart_latency_histogram_daily') }}
),

percentiles as (
    select
        day,
        provider,
        model_id,
        min(bucket_upper_ms) filter (where at_or_below >= 0.5 * measured) as latency_p50_ms,
        min(bucket_upper_ms) filter (where at_or_below >= 0.95 * measured) as latency_p95_ms
    from running
    group by day, provider, model_id
)

select
    outcomes.day,
    outcomes.provider,
    outcomes.model_id,
    outcomes.calls,
    outcomes.errors,
    round(outcomes.errors / outcomes.calls, 4) as error_rate,
    percentiles.latency_p50_ms,
    percentiles.latency_p95_ms
from outcomes
left join percentiles using (day, provider, model_id)
