-- Grain: UTC day x topic x assistant role x model ('(none)' when absent): the users' requests in chats.
select
    requests.day,
    requests.topic_id,
    topics.topic_name,
    requests.role_id,
    requests.model_id,
    cast(count(*) as bigint) as requests
from {{ ref('stg_intent_requests') }} as requests
inner join {{ ref('stg_intent_topics') }} as topics using (topic_id)
group by all
