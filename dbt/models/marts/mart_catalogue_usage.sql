-- Grain: one row per model (kind 'model') and one per assistant role (kind 'role') that any LLM call names,
-- over every call so far: its completions, failed calls, tokens, cost and distinct users, counted as the
-- admin API's `GET …/models/{id}/usage` and `…/roles/{id}/usage` count them in the OLTP database
-- (api/catalogue/repository.py `usage_totals`): the Models and Roles pages read this row instead of
-- counting at each view. Only the calls: a chat's message.sent names its call's model and role and carries
-- the user's words' tokens, already in the call's tokens in; a refusal names them but used neither
-- (docs/decisions/0048-catalogue-usage-counts-llm-calls-only.md).
with calls as (
    select event_type, user_id, model_id, role_id, input_tokens, output_tokens, cost_usd
    from {{ ref('stg_usage_events') }}
    where event_type in ('llm.call_succeeded', 'llm.call_failed')
        and (model_id is not null or role_id is not null)
),

named as (
    select 'model' as kind, model_id as id, * exclude (model_id, role_id) from calls where model_id is not null
    union all
    select 'role' as kind, role_id as id, * exclude (model_id, role_id) from calls where role_id is not null
)

select
    kind,
    id,
    cast(count(*) filter (where event_type = 'llm.call_succeeded') as bigint) as completions,
    cast(count(*) filter (where event_type = 'llm.call_failed') as bigint) as failed_calls,
    cast(coalesce(sum(input_tokens), 0) as bigint) as input_tokens,
    cast(coalesce(sum(output_tokens), 0) as bigint) as output_tokens,
    cast(coalesce(sum(cost_usd), 0) as decimal(18, 8)) as cost_usd,
    cast(count(distinct user_id) as bigint) as users
from named
group by kind, id
