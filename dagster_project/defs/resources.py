"""The platform resource: where the landing zone, Iceberg catalog, warehouse and quarantine are."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project.settings import Settings, declared


class Foundation(dg.ConfigurableResource):
    """Storage locations and engine limits: the settings (`settings.py` declares each) as run config.

    The fields mirror `Settings` with paths as strings, and have no defaults: the resource is always
    built by `from_settings` (tests/test_settings.py checks the two agree). Secrets never pass through
    here: S3 credentials come from the AWS credential chain and a PostgreSQL catalog password from
    PGPASSWORD (or ~/.pgpass), both read by their own clients.
    """

    data_dir: str
    landing_uri: str
    warehouse_uri: str
    quarantine_uri: str
    catalog_name: str
    catalog_properties: dict[str, str]
    sources_file: str
    expectations_dir: str
    documents_file: str
    personas_file: str
    embedder: str
    embedding_cache_days: int
    vector_ann_threshold: int
    search_mode: str
    sensor_interval_seconds: int
    sensor_max_files_per_run: int
    sensor_max_bytes_per_run: int
    sensor_min_file_age_seconds: int
    sensor_lookback_seconds: int
    landing_queue_url: str | None
    landing_reconcile_seconds: int
    automation_interval_seconds: int
    duckdb_memory_limit: str
    duckdb_threads: int
    max_columns: int
    max_new_columns_per_file: int
    max_nesting_depth: int
    max_record_bytes: int
    max_document_bytes: int
    max_document_text_bytes: int
    max_document_pages: int
    max_rejected_rows_per_file: int
    query_timeout_seconds: int
    query_memory_limit: str
    # The PII salt is a secret: passed as EnvVar("FOUNDATION_PII_SALT") so the UI shows the
    # variable's name, never its value; None is the installation's own salt file, read where
    # it is used (governance/salt.py), so its value never reaches the run config either.
    pii_salt: str | None
    s3_endpoint_url: str | None
    s3_region: str | None
    maintenance_retention_days: int
    maintenance_keep_last: int
    maintenance_orphan_grace_hours: int
    compaction_target_file_bytes: int
    compaction_min_files: int
    unfinished_audit_grace_seconds: int
    ray_address: str | None
    ray_embedding_actors: int | None
    ray_embedding_batch_size: int
    docs_port: int
    docs_url: str | None
    dagster_home: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Foundation:
        values = {}
        for name in declared():
            value = getattr(settings, name)
            values[name] = str(value) if isinstance(value, Path) else value
        values["pii_salt"] = dg.EnvVar("FOUNDATION_PII_SALT") if settings.pii_salt else None
        return cls(**values)

    def settings(self) -> Settings:
        """The settings back, validated by their declaration (paths become `Path`s again)."""
        values = {name: getattr(self, name) for name in declared()}
        values["catalog_properties"] = dict(self.catalog_properties)
        values["pii_salt"] = self.pii_salt or None
        return Settings(**values)
