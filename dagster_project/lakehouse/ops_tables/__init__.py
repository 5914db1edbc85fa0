"""The operational tables of the `ops` Iceberg namespace (the quarantine log), apart from the data tables.

Named `ops_tables`, not `ops`: Dagster's "ops" are units of computation, these are tables.
"""
