select
    id as model_id,
    display_name,
    tier,
    visible,
    enabled,
    context_length,
    max_output_tokens,
    sort_order,
    cast(created_at as timestamp) as created_at
from {{ source('raw', 'llm_models') }}
