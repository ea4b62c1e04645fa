-- Grain: UTC day x model x assistant role: the completions of models and roles with the response cache on
-- (decision 0057), answered from the cache (hits) or by a provider and kept (misses), and the provider cost
-- the hits saved (each hit's stored cost, `properties.saved_cost_usd`).
select
    event_date as day,
    coalesce(model_id, '(none)') as model_id,
    coalesce(role_id, '(none)') as role_id,
    cast(count(*) filter (where json_extract_string(properties, '$.cache') = 'hit') as bigint) as hits,
    cast(count(*) filter (where json_extract_string(properties, '$.cache') = 'miss') as bigint) as misses,
    cast(
        coalesce(sum(cast(json_extract_string(properties, '$.saved_cost_usd') as decimal(18, 8))), 0)
        as decimal(18, 8)
    ) as saved_cost_usd
from {{ ref('stg_usage_events') }}
where event_type = 'llm.call_succeeded'
    and json_extract_string(properties, '$.cache') in ('hit', 'miss')
group by event_date, coalesce(model_id, '(none)'), coalesce(role_id, '(none)')
