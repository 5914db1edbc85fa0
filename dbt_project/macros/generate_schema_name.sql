{#- One name per table everywhere: the folder's schema (staging, curated) as is, never
    prefixed with the target schema, so dbt's staging.stg_orders is Iceberg's staging.stg_orders. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
