{#- A composite key: no two rows share the same values of `columns` (a list of column names).
    Generated staging models of sources with a composite primary key use it (onboard/staging.py). -#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
