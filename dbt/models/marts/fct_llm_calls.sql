{{ config(
    materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

-- Grain: one LLM call (llm.call_succeeded or llm.call_failed event), staff tests included (staff_test:
-- the provider cost is the operator's all the same). Incremental on loaded_at.
select
    event_id,
    event_seq,
    occurred_at,
    event_date as day,
    user_id,
    chat_id,
    coalesce(model_id, '(none)') as model_id,
    coalesce(provider, '(none)') as provider,
    coalesce(role_id, '(none)') as role_id,
    coalesce(plan, '(none)') as plan,
    coalesce(country_code, '(unknown)') as country_code,
    client,
    event_type = 'llm.call_succeeded' as succeeded,
    error_code,
    coalesce(input_tokens, 0) as input_tokens,
    coalesce(output_tokens, 0) as output_tokens,
    coalesce(cost_usd, 0) as cost_usd,
    coalesce(credits, 0) as credits,
    latency_ms,
    coalesce(cast(json_extract(properties, '$.usage_estimated') as boolean), false) as usage_estimated,
    staff_test,
    loaded_at
from {{ ref('stg_usage_events') }}
where event_type in ('llm.call_succeeded', 'llm.call_failed')
{% if is_incremental() %}
    and loaded_at > (select coalesce(max(loaded_at), timestamp '1970-01-01') from {{ this }})
{% endif %}
