{#- PII masking, one macro per kind of PII in the source registry (sources.yml `pii:`).
    The salt is the DuckDB variable pii_salt, set by the foundation plugin from
    FOUNDATION_PII_SALT or else the installation's own secret (<data_dir>/secrets/pii_salt, the
    salt `foundation query` hash masks use too), so it never appears in compiled SQL or logs. -#}

{#- email → salted SHA-256 of the normalised address: joinable across tables, not reversible
    without the salt. Without a salt the build fails rather than write unsalted or NULL hashes. -#}
{% macro email_hash(column) -%}
    case
        when getvariable('pii_salt') is null
            then error('the PII salt is not set: run dbt through the foundation plugin (profiles.yml)')
        else sha256(getvariable('pii_salt') || lower(trim({{ column }})))
    end
{%- endmacro %}

{#- a key that is (or holds) PII → salted SHA-256 of the value exactly as it is (no trimming or
    lowering: distinct values stay distinct, so the key stays unique and joinable); NULL stays NULL. -#}
{% macro key_hash(column) -%}
    case
        when ({{ column }}) is null then null
        when getvariable('pii_salt') is null
            then error('the PII salt is not set: run dbt through the foundation plugin (profiles.yml)')
        else sha256(getvariable('pii_salt') || cast({{ column }} as varchar))
    end
{%- endmacro %}

{#- email → its domain only (example.net): useful for features, identifies no one. -#}
{% macro email_domain(column) -%}
    nullif(lower(split_part(trim({{ column }}), '@', 2)), '')
{%- endmacro %}

{#- phone → its last two digits. -#}
{% macro phone_last_digits(column) -%}
    nullif(right(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 2), '')
{%- endmacro %}

{#- names → initials ("Leo Hughes" → "L.H."). -#}
{% macro initials(first_name, last_name) -%}
    nullif(
        concat_ws('',
            upper(left(trim({{ first_name }}), 1)) || '.',
            upper(left(trim({{ last_name }}), 1)) || '.'
        ),
        ''
    )
{%- endmacro %}

{#- free text → emails, card numbers and phone numbers replaced by typed placeholders
    ([EMAIL], [CARD], [PHONE]), in that order (a card number would also pass for a phone). -#}
{% macro redact_contacts(column) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace(
                {{ column }},
                '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '[EMAIL]', 'g'
            ),
            '\b(?:\d[ -]?){12,18}\d\b', '[CARD]', 'g'
        ),
        '\+?\d[\d ().-]{7,}\d', '[PHONE]', 'g'
    )
{%- endmacro %}

{#- free text → a known person's names replaced by [NAME]: the full name first, then each part
    on its own (twice, as adjacent matches share the separator between them). -#}
{% macro redact_names(column, first_name, last_name) -%}
    {%- set parts = "'(^|\\W)(' || regexp_escape(" ~ first_name ~ ") || '|' || regexp_escape(" ~ last_name ~ ") || ')(\\W|$)'" -%}
    case
        when {{ first_name }} is null or {{ last_name }} is null then {{ column }}
        else regexp_replace(
            regexp_replace(
                replace({{ column }}, {{ first_name }} || ' ' || {{ last_name }}, '[NAME]'),
                {{ parts }}, '\1[NAME]\3', 'g'
            ),
            {{ parts }}, '\1[NAME]\3', 'g'
        )
    end
{%- endmacro %}

{#- free text whose author is unknown (no customer row yet): capitalised word pairs, the shape
    of a full name, become [NAME]: over-redacting beats leaking a name. -#}
{% macro redact_name_shapes(column) -%}
    regexp_replace({{ column }}, '\b[A-Z][a-z]+ [A-Z][a-z]+\b', '[NAME]', 'g')
{%- endmacro %}

{#- How many placeholders the redaction left in a text. -#}
{% macro count_redactions(column) -%}
    len(regexp_extract_all({{ column }}, '\[(EMAIL|CARD|PHONE|NAME)\]'))
{%- endmacro %}
