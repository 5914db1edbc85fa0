with

source as (
    select * from {{ source('raw', 'orders') }}
),

renamed as (
    select
        ---------- ids
        order_id,
        customer_id,
        product_id,

        ---------- measures
        quantity,
        amount,
        currency,
        status,

        ---------- timestamps
        ordered_at,

        ---------- lineage
        _source_file as source_file,
        _ingested_at as ingested_at
    from source
)

select * from renamed
