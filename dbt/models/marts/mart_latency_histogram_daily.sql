-- Grain: UTC day x provider x model x latency bucket. Buckets grow by 5% (upper bound in ms), so the
-- percentiles of any date range come from summed counts, within 5% of the exact value, without reading
-- every call (warehouse/queries.py latency()).
select
    day,
    provider,
    model_id,
    cast(round(exp(ceil(ln(greatest(latency_ms, 1)) / ln(1.05)) * ln(1.05))) as bigint) as bucket_upper_ms,
    cast(count(*) as bigint) as calls
from {{ ref('fct_llm_calls') }}
where latency_ms is not null
group by 1, 2, 3, 4
