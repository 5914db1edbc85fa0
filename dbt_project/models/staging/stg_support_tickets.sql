{{ config(unique_key='ticket_id') }}

with

source as (
    select * from {{ source('raw', 'support_tickets') }}
    where ticket_id is not null
    {{ latest_version('ticket_id') }}
),

-- The author's names, latest version per customer, to redact them from the ticket text.
authors as (
    select customer_id, first_name, last_name
    from {{ source('raw_lookup', 'customer_names') }}
    where customer_id is not null
    qualify row_number() over (partition by customer_id order by _ingested_at desc) = 1
),

redacted as (
    select
        source.*,
        authors.customer_id is not null as author_known,
        case
            when authors.customer_id is null
                then {{ redact_name_shapes(redact_contacts('source.subject')) }}
            else {{ redact_names(redact_contacts('source.subject'), 'authors.first_name', 'authors.last_name') }}
        end as subject_redacted,
        case
            when authors.customer_id is null
                then {{ redact_name_shapes(redact_contacts('source.body')) }}
            else {{ redact_names(redact_contacts('source.body'), 'authors.first_name', 'authors.last_name') }}
        end as body_redacted
    from source
    left join authors on source.customer_id = authors.customer_id
),

renamed as (
    select
        ---------- ids
        ticket_id,
        customer_id,

        ---------- attributes
        lower(trim(channel)) as channel,
        lower(trim(priority)) as priority,
        lower(trim(status)) as status,

        ---------- text (PII redacted)
        subject_redacted as subject,
        body_redacted as body,
        {{ count_redactions('subject_redacted') }} + {{ count_redactions('body_redacted') }} as pii_redactions,
        author_known,

        ---------- timestamps
        created_at,

        ---------- lineage
        _source_file as source_file,
        _ingested_at as ingested_at,
        _raw_sequence_number,
        {{ audit_columns() }}
    from redacted
)

select * from renamed
