-- Grain: one topic of this run: its name (top terms) and how many requests it holds.
with topics as (
    {{ optional_source('intent_topics',
        "select cast(null as integer) as topic_id, cast(null as varchar) as topic_name,
                cast(null as varchar[]) as terms, cast(null as bigint) as requests where false") }}
)
select cast(topic_id as integer) as topic_id, topic_name, terms, cast(requests as bigint) as requests
from topics
