{# The experiments' comparison (decision 0060), defined once for its marts: the confidence is fixed at 95 %
   (z = the normal quantile 0.975), the control is variant A, and a comparison needs at least
   `experiment_min_calls` measured calls (`experiment_min_feedback` scores for the feedback share) on each
   side, or it is 'too_few'. The minimums are dbt vars (dbt_project.yml; `--vars` overrides them). #}
{% macro experiment_settings() -%}
    select
        cast(0.95 as double) as confidence,
        cast(1.959963984540054 as double) as z,
        'A' as control_variant,
        cast({{ var('experiment_min_calls') }} as integer) as min_calls,
        cast({{ var('experiment_min_feedback') }} as integer) as min_feedback
{%- endmacro %}

{# One bound of the Wilson score interval of the proportion successes / trials at the normal quantile z
   (`sign` '-' for the low bound, '+' for the high), clipped to [0, 1] against rounding; null without trials:
   (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n). #}
{% macro wilson_bound(successes, trials, z, sign) -%}
    case when {{ trials }} > 0 then least(1.0, greatest(0.0,
        (cast({{ successes }} as double) / {{ trials }} + {{ z }} * {{ z }} / (2.0 * {{ trials }})
            {{ sign }} {{ z }} * sqrt(
                (cast({{ successes }} as double) / {{ trials }})
                * (1 - cast({{ successes }} as double) / {{ trials }}) / {{ trials }}
                + {{ z }} * {{ z }} / (4.0 * {{ trials }} * {{ trials }})
            ))
        / (1 + {{ z }} * {{ z }} / {{ trials }})
    )) end
{%- endmacro %}
