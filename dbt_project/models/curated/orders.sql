{{ config(unique_key='order_id') }}

with

-- Orders to (re)build: new or changed orders, and orders whose product or customer changed.
changed_orders as (
    select order_id from {{ ref('stg_orders') }} as o
    where {{ changed_since_last_build('o') }}
    union
    select o.order_id
    from {{ ref('stg_orders') }} as o
    inner join {{ ref('stg_products') }} as p on o.product_id = p.product_id
    where {{ changed_since_last_build('p') }}
    union
    select o.order_id
    from {{ ref('stg_orders') }} as o
    inner join {{ ref('stg_customers') }} as c on o.customer_id = c.customer_id
    where {{ changed_since_last_build('c') }}
),

orders as (
    select o.*
    from {{ ref('stg_orders') }} as o
    inner join changed_orders using (order_id)
),

joined as (
    select
        ---------- ids
        orders.order_id,
        orders.customer_id,
        orders.product_id,

        ---------- order
        orders.status,
        orders.currency,
        orders.status in ('cancelled', 'returned') as is_refunded,

        ---------- product
        products.product_name,
        products.category as product_category,
        products.sku as product_sku,

        ---------- customer (no PII)
        customers.segment as customer_segment,
        customers.country_code as customer_country_code,

        ---------- measures
        orders.quantity,
        orders.amount,
        products.unit_price,
        -- decimal(38, 2): any int quantity times any decimal(10,2) price fits; (12, 2) overflowed.
        cast(cast(orders.quantity as decimal(38, 2)) * products.unit_price - orders.amount as decimal(38, 2))
            as discount_amount,

        ---------- timestamps
        orders.ordered_at,
        orders.order_date,

        ---------- lineage
        orders.source_file,
        {{ audit_columns() }}
    from orders
    left join {{ ref('stg_products') }} as products on orders.product_id = products.product_id
    left join {{ ref('stg_customers') }} as customers on orders.customer_id = customers.customer_id
)

select * from joined
