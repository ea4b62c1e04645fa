select
    id as provider_id,
    kind,
    display_name,
    base_url,
    priority,
    timeout_seconds,
    max_retries,
    enabled
from {{ source('raw', 'providers') }}
