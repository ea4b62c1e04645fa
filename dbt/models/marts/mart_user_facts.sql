-- Grain: account (end users and staff, as they are at the last run), with their lifetime facts.
with days as (
    select
        user_id,
        sum(chats_created) as chats,
        sum(messages_sent) as messages,
        sum(completions) as completions,
        sum(failed_calls) as failed_calls,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(cost_usd) as cost_usd,
        sum(credits) as credits,
        count(*) as active_days,
        max(last_event_at) as last_active_at
    from {{ ref('fct_user_days') }}
    group by user_id
),

favourite_models as (  -- the most called; ties go to the first name
    select user_id, model_id as favourite_model
    from {{ ref('fct_llm_calls') }}
    where succeeded
    group by user_id, model_id
    qualify row_number() over (partition by user_id order by count(*) desc, model_id) = 1
),

favourite_roles as (
    select user_id, role_id as favourite_role
    from {{ ref('fct_llm_calls') }}
    where succeeded and role_id <> '(none)'
    group by user_id, role_id
    qualify row_number() over (partition by user_id order by count(*) desc, role_id) = 1
)

select
    accounts.user_id,
    accounts.email,
    accounts.role,
    accounts.plan_code,
    accounts.country_code,
    accounts.is_blocked,
    accounts.balance,
    accounts.registered_at,
    cast(coalesce(days.chats, 0) as bigint) as chats,
    cast(coalesce(days.messages, 0) as bigint) as messages,
    cast(coalesce(days.completions, 0) as bigint) as completions,
    cast(coalesce(days.failed_calls, 0) as bigint) as failed_calls,
    cast(coalesce(days.input_tokens, 0) as bigint) as input_tokens,
    cast(coalesce(days.output_tokens, 0) as bigint) as output_tokens,
    cast(coalesce(days.cost_usd, 0) as decimal(18, 8)) as cost_usd,
    cast(coalesce(days.credits, 0) as decimal(18, 6)) as credits,
    cast(coalesce(days.active_days, 0) as bigint) as active_days,
    days.last_active_at,
    favourite_models.favourite_model,
    favourite_roles.favourite_role
from {{ ref('stg_accounts') }} as accounts
left join days on days.user_id = accounts.user_id
left join favourite_models on favourite_models.user_id = accounts.user_id
left join favourite_roles on favourite_roles.user_id = accounts.user_id
