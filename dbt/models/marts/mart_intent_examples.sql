-- Grain: topic x example rank: up to five short snippets of the topic's requests, nearest its centre first.
select
    examples.topic_id,
    topics.topic_name,
    topics.requests as topic_requests,
    examples.example_rank,
    examples.snippet
from {{ ref('stg_intent_examples') }} as examples
inner join {{ ref('stg_intent_topics') }} as topics using (topic_id)
