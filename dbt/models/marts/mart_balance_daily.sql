-- Grain: UTC day x movement (topped_up, charged, refunded, adjusted): credits moved, by how many users.
select
    event_date as day,
    replace(event_type, 'balance.', '') as movement,
    cast(count(*) as bigint) as movements,
    cast(coalesce(sum(credits), 0) as decimal(18, 6)) as credits,
    cast(count(distinct user_id) as bigint) as users
from {{ ref('stg_usage_events') }}
where event_type in ('balance.topped_up', 'balance.charged', 'balance.refunded', 'balance.adjusted')
group by 1, 2
