{{ config(unique_key='customer_id') }}

with

-- Customers to (re)compute: any change to them, their orders or their tickets.
changed_customers as (
    select customer_id from {{ ref('stg_customers') }} as c where {{ changed_since_last_build('c') }}
    union
    select customer_id from {{ ref('stg_orders') }} as o where {{ changed_since_last_build('o') }}
    union
    select customer_id from {{ ref('stg_support_tickets') }} as t where {{ changed_since_last_build('t') }}
),

customers as (
    select c.*
    from {{ ref('stg_customers') }} as c
    inner join changed_customers using (customer_id)
),

order_stats as (
    select
        o.customer_id,
        count(*) as order_count,
        count(*) filter (where o.status = 'delivered') as delivered_order_count,
        count(*) filter (where o.status in ('cancelled', 'returned')) as refunded_order_count,
        cast(coalesce(sum(o.amount) filter (where o.status not in ('cancelled', 'returned')), 0)
            as decimal(14, 2)) as total_spend,
        min(o.ordered_at) as first_order_at,
        max(o.ordered_at) as last_order_at
    from {{ ref('stg_orders') }} as o
    inner join changed_customers using (customer_id)
    group by o.customer_id
),

ticket_stats as (
    select
        t.customer_id,
        count(*) as ticket_count,
        count(*) filter (where t.status != 'solved') as open_ticket_count,
        max(t.created_at) as last_ticket_at,
        -- Text statistics of the latest ticket (redacted text; no sentiment scoring).
        arg_max(t.channel, t.created_at) as last_ticket_channel,
        arg_max(t.priority, t.created_at) as last_ticket_priority,
        arg_max(len(string_split_regex(trim(t.subject || ' ' || t.body), '\s+')), t.created_at)
            as last_ticket_word_count,
        arg_max(length(t.body), t.created_at) as last_ticket_char_count,
        arg_max(contains(t.subject || t.body, '?'), t.created_at) as last_ticket_has_question
    from {{ ref('stg_support_tickets') }} as t
    inner join changed_customers using (customer_id)
    group by t.customer_id
),

features as (
    select
        ---------- ids
        customers.customer_id,

        ---------- profile (no PII)
        customers.segment,
        customers.country_code,
        customers.email_domain,
        customers.signup_date,

        ---------- orders
        coalesce(order_stats.order_count, 0) as order_count,
        coalesce(order_stats.delivered_order_count, 0) as delivered_order_count,
        coalesce(order_stats.refunded_order_count, 0) as refunded_order_count,
        coalesce(order_stats.total_spend, 0) as total_spend,
        cast(
            order_stats.total_spend
            / nullif(order_stats.order_count - order_stats.refunded_order_count, 0)
            as decimal(14, 2)
        ) as avg_order_value,
        order_stats.first_order_at,
        order_stats.last_order_at,

        ---------- support
        coalesce(ticket_stats.ticket_count, 0) as ticket_count,
        coalesce(ticket_stats.open_ticket_count, 0) as open_ticket_count,
        ticket_stats.last_ticket_at,
        ticket_stats.last_ticket_channel,
        ticket_stats.last_ticket_priority,
        ticket_stats.last_ticket_word_count,
        ticket_stats.last_ticket_char_count,
        ticket_stats.last_ticket_has_question,

        ---------- lineage
        {{ audit_columns() }}
    from customers
    left join order_stats using (customer_id)
    left join ticket_stats using (customer_id)
)

select * from features
