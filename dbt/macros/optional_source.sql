{# A raw table that only one asset writes (the intents, decision 0055): where it is missing (a warehouse built
   by dbt alone, or before that asset existed), the model reads no rows of the same columns instead of
   failing. `empty` is a select of those columns' types with no rows. source() is called at parse time too:
   the lineage (and Dagster's dependency on the asset) holds either way. #}
{% macro optional_source(table, empty) -%}
    {%- set src = source('raw', table) -%}
    {%- set relation = load_relation(src) if execute else src -%}
    {%- if relation is none -%}
        {{ empty }}
    {%- else -%}
        select * from {{ src }}
    {%- endif -%}
{%- endmacro %}
