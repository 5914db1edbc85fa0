{#- Generic test: no two rows share the same values of `combination_of_columns` (a composite key).
    The same name and argument as dbt_utils' test, which this project does not install; as there,
    rows whose key parts are missing group together (two rows with (1, null) are duplicates). -#}
{% test unique_combination_of_columns(model, combination_of_columns) -%}
    {%- set columns = [combination_of_columns] if combination_of_columns is string else combination_of_columns -%}
    select
        {{ columns | join(', ') }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{%- endtest %}
