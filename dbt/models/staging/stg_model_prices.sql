select
    model_id,
    cast(input_per_million as decimal(18, 6)) as input_usd_per_million,
    cast(output_per_million as decimal(18, 6)) as output_usd_per_million,
    cast(effective_from as timestamp) as effective_from,
    lead(cast(effective_from as timestamp)) over (
        partition by model_id order by effective_from, id
    ) as effective_to
from {{ source('raw', 'model_prices') }}
