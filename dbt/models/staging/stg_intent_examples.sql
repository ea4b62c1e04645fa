-- Grain: one example snippet of a topic (at most 5 a topic, rank 1 nearest the topic's centre).
with examples as (
    {{ optional_source('intent_examples',
        "select cast(null as integer) as topic_id, cast(null as integer) as example_rank,
                cast(null as varchar) as snippet where false") }}
)
select cast(topic_id as integer) as topic_id, cast(example_rank as integer) as example_rank, snippet
from examples
