-- Grain: one scored completion, as its caller's latest score says it (the last feedback.given of the
-- completion: a change of mind replaces the earlier score; decision 0054). The event names the call's model,
-- role, role version, provider and plan, copied from its llm.call_succeeded, so nothing is joined here.
with scores as (
    select
        event_seq,
        occurred_at,
        event_date,
        user_id,
        cast(cast(json_extract_string(properties, '$.completion_id') as uuid) as varchar) as completion_id,
        coalesce(model_id, '(none)') as model_id,
        coalesce(role_id, '(none)') as role_id,
        -- 0: no role, or a call made before its event named the role's version
        coalesce(try_cast(json_extract(properties, '$.role_version') as integer), 0) as role_version,
        coalesce(provider, '(none)') as provider,
        coalesce(plan, '(none)') as plan,
        json_extract_string(properties, '$.rating') as rating,
        try_cast(json_extract(properties, '$.value') as integer) as value,
        coalesce(try_cast(json_extract(properties, '$.commented') as boolean), false) as commented
    from {{ ref('stg_usage_events') }}
    where event_type = 'feedback.given'
)

-- The last written wins: the API's upsert serialises two scores of one completion, so the later one in
-- the outbox's order is the one it kept.
select
    completion_id,
    event_date as day,
    occurred_at as scored_at,
    user_id,
    model_id,
    role_id,
    role_version,
    provider,
    plan,
    rating,
    value,
    commented,
    coalesce(rating = 'up' or value >= 4, false) as positive
from scores
qualify row_number() over (partition by completion_id order by event_seq desc) = 1
