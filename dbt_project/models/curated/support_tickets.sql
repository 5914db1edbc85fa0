{{ config(unique_key='ticket_id') }}

with

changed_tickets as (
    select ticket_id from {{ ref('stg_support_tickets') }} as t where {{ changed_since_last_build('t') }}
    union
    select t.ticket_id
    from {{ ref('stg_support_tickets') }} as t
    inner join {{ ref('stg_customers') }} as c on t.customer_id = c.customer_id
    where {{ changed_since_last_build('c') }}
),

tickets as (
    select t.*
    from {{ ref('stg_support_tickets') }} as t
    inner join changed_tickets using (ticket_id)
),

documents as (
    select
        ---------- ids
        tickets.ticket_id,
        'support_ticket/' || tickets.ticket_id as document_id,
        tickets.customer_id,

        ---------- text for retrieval (PII redacted)
        tickets.subject as title,
        tickets.subject || chr(10) || chr(10) || tickets.body as document_text,
        len(string_split_regex(trim(tickets.subject || ' ' || tickets.body), '\s+')) as word_count,
        tickets.pii_redactions,

        ---------- filterable attributes
        tickets.channel,
        tickets.priority,
        tickets.status,
        customers.segment as customer_segment,
        customers.country_code as customer_country_code,

        ---------- timestamps
        tickets.created_at,

        ---------- lineage
        tickets.source_file,
        {{ audit_columns() }}
    from tickets
    left join {{ ref('stg_customers') }} as customers on tickets.customer_id = customers.customer_id
)

select * from documents
