{{ config(unique_key='order_id') }}

with

source as (
    select * from {{ source('raw', 'orders') }}
    where order_id is not null
    {{ latest_version('order_id') }}
),

renamed as (
    select
        ---------- ids
        order_id,
        customer_id,
        product_id,

        ---------- attributes
        upper(trim(currency)) as currency,
        lower(trim(status)) as status,

        ---------- measures
        quantity,
        amount,

        ---------- timestamps
        ordered_at,
        cast(ordered_at as date) as order_date,

        ---------- lineage
        _source_file as source_file,
        _ingested_at as ingested_at,
        _raw_sequence_number,
        {{ audit_columns() }}
    from source
)

select * from renamed
