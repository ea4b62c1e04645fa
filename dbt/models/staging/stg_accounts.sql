select
    id as user_id,
    email,
    role,
    role <> 'user' as is_staff,
    plan_code,
    country as country_code,
    is_blocked,
    cast(balance as decimal(18, 6)) as balance,
    cast(created_at as timestamp) as registered_at
from {{ source('raw', 'accounts') }}
