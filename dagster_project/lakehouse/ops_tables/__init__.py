"""The operational tables of the `ops` Iceberg namespace, one home below every layer that writes them.

quarantine.py (`ops.quarantine`), audit.py (`ops.audit_log`), handled_files.py (`ops.handled_files`)
and append.py (their exactly-once append). Lakehouse, ingest, transform, documents and governance
all write here, so this package imports only the bottom of the package (settings, registry,
errors, faults, identity) and the lakehouse; tests/lakehouse/test_ops_tables.py holds that line.
Named `ops_tables`, not `ops`: Dagster's "ops" are units of computation, these are tables.
"""
