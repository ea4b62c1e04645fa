with source as (
    select * from {{ source('raw', 'usage_events') }}
),

renamed as (
    select
        id as event_seq,
        event_id,
        cast(occurred_at as timestamp) as occurred_at,
        cast(occurred_at as date) as event_date,
        type as event_type,
        user_id,
        chat_id,
        role_id,
        model_id,
        provider,
        plan,
        input_tokens,
        output_tokens,
        cost_usd,
        credits,
        latency_ms,
        status,
        error_code,
        country as country_code,
        client,
        properties,
        -- A staff member's playground call (docs/decisions/0058): a provider cost, not a user's use.
        coalesce(cast(json_extract(properties, '$.staff_test') as boolean), false) as staff_test,
        loaded_at
    from source
)

select * from renamed
