"""The platform resource: where the landing zone, Iceberg catalog, warehouse and quarantine are."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import dagster as dg

from dagster_project.settings import Settings


class Foundation(dg.ConfigurableResource):
    """Storage locations and engine limits, built from `Settings`.

    Secrets never pass through here: S3 credentials come from the AWS credential chain and a
    PostgreSQL catalog password from PGPASSWORD (or ~/.pgpass), both read by their own clients.
    """

    data_dir: str
    landing_uri: str
    warehouse_uri: str
    quarantine_uri: str
    catalog_name: str
    catalog_properties: dict[str, str]
    sources_file: str
    expectations_dir: str
    sensor_interval_seconds: int
    sensor_max_files_per_tick: int
    sensor_min_file_age_seconds: int
    sensor_lookback_seconds: int
    duckdb_memory_limit: str
    duckdb_threads: int
    max_columns: int = 1000
    max_new_columns_per_file: int = 20
    max_nesting_depth: int = 64
    max_record_bytes: int = 8 << 20
    max_document_bytes: int = 64 << 20
    max_rejected_rows_per_file: int = 1000
    query_timeout_seconds: int = 60
    query_memory_limit: str = "2GB"
    dagster_home: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # The PII salt is a secret: passed as EnvVar("FOUNDATION_PII_SALT") so the UI shows the
    # variable's name, never its value; None is the installation's own salt file, read where
    # it is used (governance/salt.py), so its value never reaches the run config either.
    pii_salt: str | None = None
    documents_file: str = ""
    embedder: str = "minilm"
    maintenance_retention_days: int = 7
    maintenance_keep_last: int = 10
    maintenance_orphan_grace_hours: int = 24
    compaction_target_file_bytes: int = 128 << 20
    compaction_min_files: int = 5
    unfinished_audit_grace_seconds: int = 3600
    personas_file: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Foundation:
        values = {f.name: getattr(settings, f.name) for f in fields(settings)}
        values["data_dir"] = str(settings.data_dir)
        values["sources_file"] = str(settings.sources_file)
        values["expectations_dir"] = str(settings.expectations_dir)
        values["documents_file"] = str(settings.documents_file)
        values["personas_file"] = str(settings.personas_file)
        values["dagster_home"] = str(settings.dagster_home) if settings.dagster_home else None
        values["pii_salt"] = dg.EnvVar("FOUNDATION_PII_SALT") if settings.pii_salt else None
        return cls(**values)

    def settings(self) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(Settings)}
        values["data_dir"] = Path(self.data_dir)
        values["sources_file"] = Path(self.sources_file)
        values["expectations_dir"] = Path(self.expectations_dir)
        values["documents_file"] = (
            Path(self.documents_file) if self.documents_file else Settings.documents_file
        )
        values["personas_file"] = Path(self.personas_file) if self.personas_file else Settings.personas_file
        values["catalog_properties"] = dict(self.catalog_properties)
        values["dagster_home"] = Path(self.dagster_home) if self.dagster_home else None
        values["pii_salt"] = self.pii_salt or None
        return Settings(**values)
