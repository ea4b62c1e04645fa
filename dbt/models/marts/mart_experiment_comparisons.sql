-- Grain: experiment x variant other than the control (A) x metric (decision 0060): the variant against the
-- control on each figure of mart_experiment_variants, the difference (variant - control), the relative
-- difference (difference / control), its 95 % interval and the outcome for the business ('better',
-- 'worse', 'no_difference', or 'too_few' when either side has fewer than the minimum measured calls, or
-- scores for the feedback share). Rates: Newcombe's hybrid score interval from each side's Wilson interval;
-- means: Welch's normal interval; latency percentiles: better or worse only when the two sides' own
-- intervals do not overlap (no interval of the difference). Lower is better for the error rate, latency,
-- tokens and cost; higher for the feedback share.
with settings as (
    {{ experiment_settings() }}
),

variants as (
    select * from {{ ref('mart_experiment_variants') }}
),

-- Every variant but the control, beside its experiment's control (absent: nothing to compare, too_few).
pairs as (
    select
        variant.*,
        control.calls as c_calls,
        control.error_rate as c_error_rate,
        control.error_rate_low as c_error_rate_low,
        control.error_rate_high as c_error_rate_high,
        control.latency_calls as c_latency_calls,
        control.latency_p50_ms as c_latency_p50_ms,
        control.latency_p50_low as c_latency_p50_low,
        control.latency_p50_high as c_latency_p50_high,
        control.latency_p95_ms as c_latency_p95_ms,
        control.latency_p95_low as c_latency_p95_low,
        control.latency_p95_high as c_latency_p95_high,
        control.completions as c_completions,
        control.tokens_per_call as c_tokens_per_call,
        control.tokens_per_call_sd as c_tokens_per_call_sd,
        control.cost_per_call_usd as c_cost_per_call_usd,
        control.cost_per_call_sd as c_cost_per_call_sd,
        control.feedback_count as c_feedback_count,
        control.feedback_positive_share as c_feedback_positive_share,
        control.feedback_positive_low as c_feedback_positive_low,
        control.feedback_positive_high as c_feedback_positive_high,
        settings.control_variant,
        settings.z,
        settings.min_calls,
        settings.min_feedback
    from variants as variant
    cross join settings
    left join variants as control
        on control.experiment_id = variant.experiment_id and control.variant = settings.control_variant
    where variant.variant <> settings.control_variant
),

-- One row per metric: the samples each side measured it on, the two values and, where the metric has one,
-- the interval of the difference (rates: Newcombe; means: Welch) or the two sides' own intervals
-- (percentiles), and which way is better.
metrics as (
    select
        experiment_id, variant, control_variant, 1 as metric_order, 'error_rate' as metric, true as lower_is_better,
        c_calls as control_n, calls as variant_n, min_calls as min_n,
        c_error_rate as control_value, error_rate as value,
        error_rate - c_error_rate
            - sqrt((error_rate - error_rate_low) ^ 2 + (c_error_rate_high - c_error_rate) ^ 2) as low,
        error_rate - c_error_rate
            + sqrt((error_rate_high - error_rate) ^ 2 + (c_error_rate - c_error_rate_low) ^ 2) as high,
        null::double as control_low, null::double as control_high, null::double as variant_low,
        null::double as variant_high
    from pairs
    union all
    select
        experiment_id, variant, control_variant, 2, 'latency_p50_ms', true,
        c_latency_calls, latency_calls, min_calls, c_latency_p50_ms, latency_p50_ms, null, null,
        c_latency_p50_low, c_latency_p50_high, latency_p50_low, latency_p50_high
    from pairs
    union all
    select
        experiment_id, variant, control_variant, 3, 'latency_p95_ms', true,
        c_latency_calls, latency_calls, min_calls, c_latency_p95_ms, latency_p95_ms, null, null,
        c_latency_p95_low, c_latency_p95_high, latency_p95_low, latency_p95_high
    from pairs
    union all
    select
        experiment_id, variant, control_variant, 4, 'tokens_per_call', true,
        c_completions, completions, min_calls, c_tokens_per_call, tokens_per_call,
        tokens_per_call - c_tokens_per_call
            - z * sqrt(tokens_per_call_sd ^ 2 / completions + c_tokens_per_call_sd ^ 2 / c_completions),
        tokens_per_call - c_tokens_per_call
            + z * sqrt(tokens_per_call_sd ^ 2 / completions + c_tokens_per_call_sd ^ 2 / c_completions),
        null, null, null, null
    from pairs
    union all
    select
        experiment_id, variant, control_variant, 5, 'cost_per_call_usd', true,
        c_completions, completions, min_calls, c_cost_per_call_usd, cost_per_call_usd,
        cost_per_call_usd - c_cost_per_call_usd
            - z * sqrt(cost_per_call_sd ^ 2 / completions + c_cost_per_call_sd ^ 2 / c_completions),
        cost_per_call_usd - c_cost_per_call_usd
            + z * sqrt(cost_per_call_sd ^ 2 / completions + c_cost_per_call_sd ^ 2 / c_completions),
        null, null, null, null
    from pairs
    union all
    select
        experiment_id, variant, control_variant, 6, 'feedback_positive_share', false,
        c_feedback_count, feedback_count, min_feedback, c_feedback_positive_share, feedback_positive_share,
        feedback_positive_share - c_feedback_positive_share
            - sqrt((feedback_positive_share - feedback_positive_low) ^ 2
                + (c_feedback_positive_high - c_feedback_positive_share) ^ 2),
        feedback_positive_share - c_feedback_positive_share
            + sqrt((feedback_positive_high - feedback_positive_share) ^ 2
                + (c_feedback_positive_share - c_feedback_positive_low) ^ 2),
        null, null, null, null
    from pairs
),

judged as (
    select
        *,
        value - control_value as difference,
        (value - control_value) / nullif(control_value, 0) as relative,
        case
            when coalesce(control_n, 0) < min_n or coalesce(variant_n, 0) < min_n
                or value is null or control_value is null then 'too_few'
            -- percentiles: the variant's interval wholly below the control's, or wholly above it
            when metric in ('latency_p50_ms', 'latency_p95_ms') then case
                when variant_high < control_low then 'better'
                when variant_low > control_high then 'worse'
                else 'no_difference'
            end
            -- the difference's interval wholly below zero, or wholly above it
            when high < 0 then case when lower_is_better then 'better' else 'worse' end
            when low > 0 then case when lower_is_better then 'worse' else 'better' end
            else 'no_difference'
        end as outcome
    from metrics
)

select
    experiment_id,
    variant,
    control_variant as versus,
    metric,
    metric_order,
    cast(control_n as bigint) as control_n,
    cast(variant_n as bigint) as variant_n,
    cast(min_n as integer) as min_n,
    cast(control_value as double) as control_value,
    cast(value as double) as value,
    cast(difference as double) as difference,
    cast(relative as double) as relative,
    cast(low as double) as low,
    cast(high as double) as high,
    outcome
from judged
