-- Grain: UTC day x provider x model x latency bucket, over the successful calls with a latency. Buckets
-- grow by 5% (upper bound in ms), so the percentiles of any date range come from summed counts without
-- reading every call (decision 0042; mart_latency_daily and warehouse/queries.py latency()).
select
    day,
    provider,
    model_id,
    {{ latency_bucket_upper_ms('latency_ms') }} as bucket_upper_ms,
    cast(count(*) as bigint) as calls
from {{ ref('fct_llm_calls') }}
where succeeded and latency_ms is not null
group by 1, 2, 3, 4
