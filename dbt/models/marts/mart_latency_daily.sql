-- Grain: UTC day x provider x model. Latency of every call that has one (successful or not), in ms.
select
    day,
    provider,
    model_id,
    cast(count(*) as bigint) as calls,
    cast(count(*) filter (where not succeeded) as bigint) as errors,
    round(count(*) filter (where not succeeded) / count(*), 4) as error_rate,
    quantile_cont(latency_ms, 0.5) as latency_p50_ms,
    quantile_cont(latency_ms, 0.95) as latency_p95_ms
from {{ ref('fct_llm_calls') }}
group by day, provider, model_id
