-- Grain: one user's request stored in a chat, within the intents window, with its topic of this run.
with requests as (
    {{ optional_source('intent_requests',
        "select cast(null as bigint) as message_id, cast(null as date) as day, cast(null as varchar) as role_id,
                cast(null as varchar) as model_id, cast(null as integer) as topic_id where false") }}
)
select
    message_id,
    cast(day as date) as day,
    coalesce(role_id, '(none)') as role_id,
    coalesce(model_id, '(none)') as model_id,
    cast(topic_id as integer) as topic_id
from requests
