select
    code as plan_code,
    name as plan_name,
    daily_requests,
    model_tiers,
    tokens_per_day,
    tokens_per_month,
    max_chats,
    max_messages_per_chat
from {{ source('raw', 'plans') }}
