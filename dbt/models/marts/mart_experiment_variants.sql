-- Grain: experiment x variant, over the whole experiment (decision 0060): the LLM calls whose events carry
-- properties.experiment_id and properties.variant (decision 0059), staff tests left out (decision 0058).
-- A call marked properties.experiment_model (the caller's model or the plan's fallback was used, not the
-- variant's) is only counted as `excluded`; a cache hit (decision 0057) only as `cache_hits`. The rest are
-- the variant's calls, which every figure and interval describes (formulas: the decision and _marts.yml).
with settings as (
    {{ experiment_settings() }}
),

marked as (
    select
        event_id,
        event_type = 'llm.call_succeeded' as succeeded,
        occurred_at,
        user_id,
        coalesce(input_tokens, 0) + coalesce(output_tokens, 0) as tokens,
        coalesce(cost_usd, 0) as cost_usd,
        latency_ms,
        cast(try_cast(json_extract_string(properties, '$.experiment_id') as uuid) as varchar) as experiment_id,
        json_extract_string(properties, '$.variant') as variant,
        json_extract_string(properties, '$.experiment_model') is not null as excluded,
        coalesce(provider = 'cache' or json_extract_string(properties, '$.cache') = 'hit', false) as cache_hit
    from {{ ref('stg_usage_events') }}
    where event_type in ('llm.call_succeeded', 'llm.call_failed')
        and not staff_test
        and json_extract_string(properties, '$.variant') is not null
),

served as (
    select * from marked where experiment_id is not null
),

-- The variant's own calls: its model answered them (neither excluded nor from the cache).
compared as (
    select * from served where not excluded and not cache_hit
),

counts as (
    select
        experiment_id,
        variant,
        cast(count(*) filter (where not excluded and not cache_hit) as bigint) as calls,
        cast(count(distinct user_id) filter (where not excluded and not cache_hit) as bigint) as users,
        cast(count(*) filter (where not excluded and not cache_hit and not succeeded) as bigint) as errors,
        cast(count(*) filter (where excluded) as bigint) as excluded,
        cast(count(*) filter (where cache_hit and not excluded) as bigint) as cache_hits,
        min(occurred_at) as first_call_at,
        max(occurred_at) as last_call_at
    from served
    group by experiment_id, variant
),

-- Tokens (in + out) and provider cost of a completion: the variant's successful calls.
completions as (
    select
        experiment_id,
        variant,
        cast(count(*) as bigint) as completions,
        avg(tokens) as tokens_per_call,
        stddev_samp(tokens) as tokens_per_call_sd,
        cast(avg(cost_usd) as double) as cost_per_call_usd,  -- the mean of the exact decimals
        stddev_samp(cast(cost_usd as double)) as cost_per_call_sd
    from compared
    where succeeded
    group by experiment_id, variant
),

-- Latency: the successful calls that recorded one, in ascending order.
latencies as (
    select
        experiment_id,
        variant,
        latency_ms,
        row_number() over (partition by experiment_id, variant order by latency_ms) as latency_rank,
        count(*) over (partition by experiment_id, variant) as measured
    from compared
    where succeeded and latency_ms is not null
),

-- For each percentile p of n latencies: the nearest rank ceil(n p) (decision 0042, without buckets), and
-- the distribution-free 95 % interval between the order statistics at ranks floor(n p - z sqrt(n p (1 - p)))
-- and ceil(n p + z sqrt(n p (1 - p))); a rank outside 1..n leaves that bound open (null).
latency_ranks as (
    select
        groups.experiment_id,
        groups.variant,
        percentiles.p,
        cast(ceil(groups.measured * percentiles.p) as bigint) as point_rank,
        cast(floor(
            groups.measured * percentiles.p
            - settings.z * sqrt(groups.measured * percentiles.p * (1 - percentiles.p))
        ) as bigint) as low_rank,
        cast(ceil(
            groups.measured * percentiles.p
            + settings.z * sqrt(groups.measured * percentiles.p * (1 - percentiles.p))
        ) as bigint) as high_rank
    from (select distinct experiment_id, variant, measured from latencies) as groups
    cross join (values (0.5), (0.95)) as percentiles (p)
    cross join settings
),

latency_points as (
    select
        latency_ranks.experiment_id,
        latency_ranks.variant,
        latency_ranks.p,
        max(latencies.latency_ms) filter (where latencies.latency_rank = latency_ranks.point_rank) as value,
        max(latencies.latency_ms) filter (where latencies.latency_rank = latency_ranks.low_rank) as low,
        max(latencies.latency_ms) filter (where latencies.latency_rank = latency_ranks.high_rank) as high
    from latency_ranks
    inner join latencies
        on latencies.experiment_id = latency_ranks.experiment_id and latencies.variant = latency_ranks.variant
    group by latency_ranks.experiment_id, latency_ranks.variant, latency_ranks.p
),

latency as (
    select
        experiment_id,
        variant,
        cast(any_value(measured) as bigint) as latency_calls
    from latencies
    group by experiment_id, variant
),

-- Each scored completion once, by its latest score (int_feedback_latest), joined to its call by id.
feedback as (
    select
        compared.experiment_id,
        compared.variant,
        cast(count(*) as bigint) as feedback_count,
        cast(count(*) filter (where scores.positive) as bigint) as feedback_positive
    from {{ ref('int_feedback_latest') }} as scores
    inner join compared on compared.event_id = scores.completion_id and compared.succeeded
    group by compared.experiment_id, compared.variant
),

joined as (
    select
        counts.*,
        coalesce(completions.completions, 0) as completions,
        completions.tokens_per_call,
        completions.tokens_per_call_sd,
        completions.cost_per_call_usd,
        completions.cost_per_call_sd,
        coalesce(latency.latency_calls, 0) as latency_calls,
        coalesce(feedback.feedback_count, 0) as feedback_count,
        coalesce(feedback.feedback_positive, 0) as feedback_positive
    from counts
    left join completions using (experiment_id, variant)
    left join latency using (experiment_id, variant)
    left join feedback using (experiment_id, variant)
)

select
    joined.experiment_id,
    joined.variant,
    joined.calls,
    joined.users,
    joined.errors,
    cast(joined.errors as double) / nullif(joined.calls, 0) as error_rate,
    {{ wilson_bound('joined.errors', 'joined.calls', 'settings.z', '-') }} as error_rate_low,
    {{ wilson_bound('joined.errors', 'joined.calls', 'settings.z', '+') }} as error_rate_high,
    joined.latency_calls,
    cast(p50.value as double) as latency_p50_ms,
    cast(p50.low as double) as latency_p50_low,
    cast(p50.high as double) as latency_p50_high,
    cast(p95.value as double) as latency_p95_ms,
    cast(p95.low as double) as latency_p95_low,
    cast(p95.high as double) as latency_p95_high,
    joined.completions,
    joined.tokens_per_call,
    joined.tokens_per_call - settings.z * joined.tokens_per_call_sd / sqrt(joined.completions)
        as tokens_per_call_low,
    joined.tokens_per_call + settings.z * joined.tokens_per_call_sd / sqrt(joined.completions)
        as tokens_per_call_high,
    joined.tokens_per_call_sd,
    joined.cost_per_call_usd,
    joined.cost_per_call_usd - settings.z * joined.cost_per_call_sd / sqrt(joined.completions)
        as cost_per_call_low,
    joined.cost_per_call_usd + settings.z * joined.cost_per_call_sd / sqrt(joined.completions)
        as cost_per_call_high,
    joined.cost_per_call_sd,
    joined.feedback_count,
    joined.feedback_positive,
    cast(joined.feedback_positive as double) / nullif(joined.feedback_count, 0) as feedback_positive_share,
    {{ wilson_bound('joined.feedback_positive', 'joined.feedback_count', 'settings.z', '-') }}
        as feedback_positive_low,
    {{ wilson_bound('joined.feedback_positive', 'joined.feedback_count', 'settings.z', '+') }}
        as feedback_positive_high,
    joined.cache_hits,
    joined.excluded,
    joined.first_call_at,
    joined.last_call_at
from joined
cross join settings
left join latency_points as p50 on p50.experiment_id = joined.experiment_id and p50.variant = joined.variant
    and p50.p = 0.5
left join latency_points as p95 on p95.experiment_id = joined.experiment_id and p95.variant = joined.variant
    and p95.p = 0.95
