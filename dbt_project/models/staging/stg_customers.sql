{{ config(unique_key='customer_id') }}

with

source as (
    select * from {{ source('raw', 'customers') }}
    where customer_id is not null
    {{ latest_version('customer_id') }}
),

renamed as (
    select
        ---------- ids
        customer_id,

        ---------- masked PII
        {{ initials('first_name', 'last_name') }} as customer_initials,
        {{ email_hash('email') }} as email_hash,
        {{ email_domain('email') }} as email_domain,
        {{ phone_last_digits('phone') }} as phone_last_digits,

        ---------- attributes
        upper(trim(country)) as country_code,
        lower(trim(segment)) as segment,

        ---------- timestamps
        signup_date,

        ---------- lineage
        _source_file as source_file,
        _ingested_at as ingested_at,
        _raw_sequence_number,
        {{ audit_columns() }}
    from source
)

select * from renamed
