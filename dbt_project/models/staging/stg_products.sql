{{ config(unique_key='product_id') }}

with

source as (
    select * from {{ source('raw', 'products') }}
    where product_id is not null
    {{ latest_version('product_id') }}
),

renamed as (
    select
        ---------- ids
        product_id,
        upper(trim(sku)) as sku,

        ---------- attributes
        trim(name) as product_name,
        lower(trim(category)) as category,
        coalesce(active, false) as is_active,

        ---------- measures
        unit_price,

        ---------- timestamps
        updated_at,

        ---------- lineage
        _source_file as source_file,
        _ingested_at as ingested_at,
        _raw_sequence_number,
        {{ audit_columns() }}
    from source
)

select * from renamed
