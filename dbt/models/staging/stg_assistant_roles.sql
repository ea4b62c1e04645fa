select
    id as role_id,
    name as role_name,
    default_model,
    enabled,
    cast(created_at as timestamp) as created_at
from {{ source('raw', 'assistant_roles') }}
