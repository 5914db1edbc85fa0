{#- Lineage columns every model ends with: which dbt invocation wrote the row, and when.
    Dagster publishes to Iceberg exactly the rows of its own invocation. -#}
{% macro audit_columns() -%}
    '{{ invocation_id }}' as _invocation_id,
    current_timestamp as _loaded_at
{%- endmacro %}

{#- For curated models: the rows of `relation` (a staging model) loaded since this model was last
    built, i.e. the changes it has not consumed yet; every row on a first or full build. -#}
{% macro changed_since_last_build(relation) -%}
    {%- if is_incremental() -%}
        {{ relation }}._loaded_at > (
            select coalesce(max(_loaded_at), '-infinity'::timestamptz) from {{ this }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Staging models: one row per primary key, the most recently landed version (latest raw commit,
    then latest ingest run, then file name). The key is one column or a list (a composite key). -#}
{% macro latest_version(key) -%}
    {%- set columns = [key] if key is string else key -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error("latest_version: give the key column, or a list of columns") }}
    {%- endif %}
    qualify row_number() over (
        partition by {{ columns | join(', ') }}
        order by _raw_sequence_number desc, _ingested_at desc, _source_file desc
    ) = 1
{%- endmacro %}
