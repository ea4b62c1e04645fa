{# The one latency percentile (decision 0042): over the successful calls that recorded a latency, the
   nearest-rank percentile (the value at rank ceil(q * n) in ascending order), reported as the upper bound
   of the 5% bucket that value falls in. mart_latency_daily and warehouse/queries.py latency() both read
   it from mart_latency_histogram_daily, so a day's figure is the same from either; the exact value is at
   most 5% below it. #}
{% macro latency_bucket_upper_ms(latency_ms) -%}
    cast(round(exp(ceil(ln(greatest({{ latency_ms }}, 1)) / ln(1.05)) * ln(1.05))) as bigint)
{%- endmacro %}
