"""Settings: the one module that reads the environment (every variable is in .env.example)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.errors import FoundationError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

# Catalog properties come from FOUNDATION_CATALOG__<PROP> with pyiceberg's own convention:
# "__" inside PROP becomes "." and "_" becomes "-", so FOUNDATION_CATALOG__S3__PATH_STYLE_ACCESS
# sets "s3.path-style-access".
CATALOG_PREFIX = "FOUNDATION_CATALOG__"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# A memory size as DuckDB reads one: a number and a unit (512MB, 2GB, 1.5GiB).
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class SettingsError(FoundationError, ValueError):
    """An environment variable has a value the platform cannot use."""


def _file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a whole number; unset it or give e.g. {default}") from exc


@dataclass(frozen=True)
class Settings:
    """Where everything lives and how hard to work; defaults are the embedded profile under .data/."""

    data_dir: Path
    landing_uri: str
    warehouse_uri: str
    quarantine_uri: str
    catalog_name: str = "foundation"
    catalog_properties: dict[str, str] = field(default_factory=dict)
    sources_file: Path = PACKAGE_DIR / "sources.yml"
    expectations_dir: Path = PROJECT_DIR / "expectations"
    sensor_interval_seconds: int = 15
    sensor_max_files_per_tick: int = 20
    sensor_min_file_age_seconds: int = 2
    sensor_lookback_seconds: int = 600
    duckdb_memory_limit: str = "384MB"  # with the process around it, a run stays under 1 GiB
    duckdb_threads: int = 0  # 0: DuckDB's default, all cores
    # Limits on what one landed file may be (past them: quarantine with the reason, never a crash).
    max_columns: int = 1000  # columns in one file
    max_new_columns_per_file: int = 20  # undeclared columns one file may add to its table
    max_nesting_depth: int = 64  # levels of nested JSON values
    max_record_bytes: int = 8 << 20  # one CSV line or JSON record
    max_document_bytes: int = 64 << 20  # one document (documents layer)
    max_rejected_rows_per_file: int = 1000  # rows of one file quarantined one by one; past it, the file
    query_timeout_seconds: int = 60  # governed queries: wall-clock limit
    query_memory_limit: str = "2GB"  # governed queries: DuckDB memory limit
    dagster_home: Path | None = None  # None: <data_dir>/dagster_home
    s3_endpoint_url: str | None = None  # MinIO or another S3 API; None: AWS (or AWS_ENDPOINT_URL)
    s3_region: str | None = None
    # Salt of PII hashes (FOUNDATION_PII_SALT); None: the installation's own secret, made at first
    # use under <data_dir>/secrets (dagster_project/governance/salt.py). There is no public default.
    pii_salt: str | None = None
    documents_file: Path = PACKAGE_DIR / "documents.yml"
    embedder: str = "minilm"  # or "package.module:factory" (see dagster_project/documents/embed.py)
    maintenance_retention_days: int = 7  # snapshots younger than this stay (time travel window)
    maintenance_keep_last: int = 10  # main's newest commits that stay whatever their age
    maintenance_orphan_grace_hours: int = 24  # unreferenced files younger than this are in flight
    compaction_target_file_bytes: int = 128 << 20
    compaction_min_files: int = 5  # small files a partition needs before it is compacted
    # An audit branch of a run on another machine with no commit for this long is abandoned.
    unfinished_audit_grace_seconds: int = 3600
    personas_file: Path = PACKAGE_DIR / "governance" / "personas.yml"

    @property
    def dbt_working_db(self) -> Path:
        """dbt's DuckDB working database: a cache of the staging and curated Iceberg tables."""
        return self.data_dir / "dbt" / "working.duckdb"

    @property
    def vector_index_dir(self) -> Path:
        """The embedded vector index (LanceDB) over curated.document_chunks; rebuilt from Iceberg if lost."""
        return self.data_dir / "vector_index"

    @property
    def dagster_home_dir(self) -> Path:
        """The Dagster instance directory (DAGSTER_HOME), for runs started by the CLI."""
        return self.dagster_home or self.data_dir / "dagster_home"

    @property
    def data_docs_dir(self) -> Path:
        """Where Great Expectations Data Docs pages are written."""
        return self.data_dir / "data_docs"

    @property
    def cards_dir(self) -> Path:
        """Where data cards are written: `<namespace>.<table>.md` and `.html`, regenerated on each publish."""
        return self.data_dir / "cards"

    @property
    def work_dir(self) -> Path:
        """Local scratch space (DuckDB spill, staged Parquet before it is committed)."""
        return self.data_dir / "tmp"

    @classmethod
    def for_data_dir(cls, data_dir: Path, **overrides: object) -> Settings:
        """The embedded profile rooted at `data_dir` (tests use this with tmp_path)."""
        data_dir = Path(data_dir).resolve()
        base: dict[str, object] = {
            "data_dir": data_dir,
            "landing_uri": _file_uri(data_dir / "landing"),
            "warehouse_uri": _file_uri(data_dir / "warehouse"),
            "quarantine_uri": _file_uri(data_dir / "quarantine"),
            "catalog_properties": {
                "type": "sql",
                "uri": f"sqlite:///{data_dir / 'catalog.db'}",
                "warehouse": _file_uri(data_dir / "warehouse"),
            },
        }
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    def resolved_catalog_properties(self) -> dict[str, str]:
        """Catalog properties with the warehouse filled in, as given to `load_catalog`."""
        props = dict(self.catalog_properties)
        props.setdefault("warehouse", self.warehouse_uri)
        if props["warehouse"].startswith(("s3://", "s3a://")):
            # Without a region pyiceberg's PyArrow FileIO spends seconds asking AWS for one.
            if self.s3_endpoint_url:
                props.setdefault("s3.endpoint", self.s3_endpoint_url)
            if self.s3_region:
                props.setdefault("s3.region", self.s3_region)
        return props

    def to_env(self) -> dict[str, str]:
        """These settings as FOUNDATION_* variables, for a subprocess (dbt) to read the same ones back."""
        env = {
            "FOUNDATION_DATA_DIR": str(self.data_dir),
            "FOUNDATION_LANDING_URI": self.landing_uri,
            "FOUNDATION_WAREHOUSE_URI": self.warehouse_uri,
            "FOUNDATION_QUARANTINE_URI": self.quarantine_uri,
            "FOUNDATION_CATALOG_NAME": self.catalog_name,
            "FOUNDATION_SOURCES_FILE": str(self.sources_file),
            "FOUNDATION_EXPECTATIONS_DIR": str(self.expectations_dir),
            "FOUNDATION_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "FOUNDATION_DUCKDB_THREADS": str(self.duckdb_threads),
            "FOUNDATION_MAX_COLUMNS": str(self.max_columns),
            "FOUNDATION_MAX_NEW_COLUMNS_PER_FILE": str(self.max_new_columns_per_file),
            "FOUNDATION_MAX_NESTING_DEPTH": str(self.max_nesting_depth),
            "FOUNDATION_MAX_RECORD_BYTES": str(self.max_record_bytes),
            "FOUNDATION_MAX_DOCUMENT_BYTES": str(self.max_document_bytes),
            "FOUNDATION_MAX_REJECTED_ROWS_PER_FILE": str(self.max_rejected_rows_per_file),
            "FOUNDATION_QUERY_TIMEOUT_SECONDS": str(self.query_timeout_seconds),
            "FOUNDATION_QUERY_MEMORY_LIMIT": self.query_memory_limit,
            "FOUNDATION_PII_SALT": self.pii_salt or "",
            "FOUNDATION_DOCUMENTS_FILE": str(self.documents_file),
            "FOUNDATION_EMBEDDER": self.embedder,
            "FOUNDATION_PERSONAS_FILE": str(self.personas_file),
            "FOUNDATION_S3_ENDPOINT_URL": self.s3_endpoint_url or "",
            "FOUNDATION_S3_REGION": self.s3_region or "",
            "FOUNDATION_MAINTENANCE_RETENTION_DAYS": str(self.maintenance_retention_days),
            "FOUNDATION_MAINTENANCE_KEEP_LAST": str(self.maintenance_keep_last),
            "FOUNDATION_MAINTENANCE_ORPHAN_GRACE_HOURS": str(self.maintenance_orphan_grace_hours),
            "FOUNDATION_COMPACTION_TARGET_FILE_BYTES": str(self.compaction_target_file_bytes),
            "FOUNDATION_COMPACTION_MIN_FILES": str(self.compaction_min_files),
            "FOUNDATION_UNFINISHED_AUDIT_GRACE_SECONDS": str(self.unfinished_audit_grace_seconds),
        }
        for prop, value in self.catalog_properties.items():
            name = "__".join(part.replace("-", "_") for part in prop.split(".")).upper()
            env[CATALOG_PREFIX + name] = value
        if self.dagster_home:
            env["DAGSTER_HOME"] = str(self.dagster_home)
        return env


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment; with nothing set, the embedded default under .data/.

    Args:
        env: The environment to read; `os.environ` when omitted.

    Returns:
        The settings.

    Raises:
        SettingsError: A variable is set to something unusable.
    """
    env = os.environ if env is None else env
    data_dir = Path(env.get("FOUNDATION_DATA_DIR") or PROJECT_DIR / ".data")
    if not data_dir.is_absolute():
        data_dir = PROJECT_DIR / data_dir
    overrides: dict[str, object] = {}
    for name, key in (
        ("FOUNDATION_LANDING_URI", "landing_uri"),
        ("FOUNDATION_WAREHOUSE_URI", "warehouse_uri"),
        ("FOUNDATION_QUARANTINE_URI", "quarantine_uri"),
        ("FOUNDATION_CATALOG_NAME", "catalog_name"),
        ("FOUNDATION_DUCKDB_MEMORY_LIMIT", "duckdb_memory_limit"),
        ("FOUNDATION_QUERY_MEMORY_LIMIT", "query_memory_limit"),
        ("FOUNDATION_S3_ENDPOINT_URL", "s3_endpoint_url"),
        ("FOUNDATION_S3_REGION", "s3_region"),
        ("FOUNDATION_PII_SALT", "pii_salt"),
    ):
        if env.get(name):
            overrides[key] = env[name].rstrip("/") if key.endswith("_uri") else env[name]
    if env.get("DAGSTER_HOME"):
        overrides["dagster_home"] = Path(env["DAGSTER_HOME"])
    if env.get("FOUNDATION_SOURCES_FILE"):
        overrides["sources_file"] = Path(env["FOUNDATION_SOURCES_FILE"])
    if env.get("FOUNDATION_DOCUMENTS_FILE"):
        overrides["documents_file"] = Path(env["FOUNDATION_DOCUMENTS_FILE"])
    if env.get("FOUNDATION_PERSONAS_FILE"):
        overrides["personas_file"] = Path(env["FOUNDATION_PERSONAS_FILE"])
    if env.get("FOUNDATION_EMBEDDER"):
        overrides["embedder"] = env["FOUNDATION_EMBEDDER"]
    if env.get("FOUNDATION_EXPECTATIONS_DIR"):
        overrides["expectations_dir"] = Path(env["FOUNDATION_EXPECTATIONS_DIR"])
    for name, key, default in (
        ("FOUNDATION_SENSOR_INTERVAL_SECONDS", "sensor_interval_seconds", 15),
        ("FOUNDATION_SENSOR_MAX_FILES_PER_TICK", "sensor_max_files_per_tick", 20),
        ("FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS", "sensor_min_file_age_seconds", 2),
        ("FOUNDATION_SENSOR_LOOKBACK_SECONDS", "sensor_lookback_seconds", 600),
        ("FOUNDATION_DUCKDB_THREADS", "duckdb_threads", 0),
        ("FOUNDATION_MAINTENANCE_RETENTION_DAYS", "maintenance_retention_days", 7),
        ("FOUNDATION_MAINTENANCE_KEEP_LAST", "maintenance_keep_last", 10),
        ("FOUNDATION_MAINTENANCE_ORPHAN_GRACE_HOURS", "maintenance_orphan_grace_hours", 24),
        ("FOUNDATION_COMPACTION_TARGET_FILE_BYTES", "compaction_target_file_bytes", 128 << 20),
        ("FOUNDATION_COMPACTION_MIN_FILES", "compaction_min_files", 5),
        ("FOUNDATION_UNFINISHED_AUDIT_GRACE_SECONDS", "unfinished_audit_grace_seconds", 3600),
        ("FOUNDATION_MAX_COLUMNS", "max_columns", 1000),
        ("FOUNDATION_MAX_NEW_COLUMNS_PER_FILE", "max_new_columns_per_file", 20),
        ("FOUNDATION_MAX_NESTING_DEPTH", "max_nesting_depth", 64),
        ("FOUNDATION_MAX_RECORD_BYTES", "max_record_bytes", 8 << 20),
        ("FOUNDATION_MAX_DOCUMENT_BYTES", "max_document_bytes", 64 << 20),
        ("FOUNDATION_MAX_REJECTED_ROWS_PER_FILE", "max_rejected_rows_per_file", 1000),
        ("FOUNDATION_QUERY_TIMEOUT_SECONDS", "query_timeout_seconds", 60),
    ):
        overrides[key] = _int(env, name, default)
    catalog = {
        ".".join(part.replace("_", "-") for part in key[len(CATALOG_PREFIX) :].lower().split("__")): value
        for key, value in env.items()
        if key.startswith(CATALOG_PREFIX) and value
    }
    settings = Settings.for_data_dir(data_dir, **overrides)
    if catalog:
        catalog.setdefault("warehouse", settings.warehouse_uri)
        settings = Settings.for_data_dir(data_dir, **{**overrides, "catalog_properties": catalog})
    if settings.sensor_max_files_per_tick < 1:
        raise SettingsError("FOUNDATION_SENSOR_MAX_FILES_PER_TICK must be at least 1")
    if settings.maintenance_keep_last < 1:
        raise SettingsError("FOUNDATION_MAINTENANCE_KEEP_LAST must be at least 1 (main's head always stays)")
    if settings.compaction_min_files < 2:
        raise SettingsError("FOUNDATION_COMPACTION_MIN_FILES must be at least 2 (one file is not compacted)")
    for name, value in (
        ("FOUNDATION_DUCKDB_MEMORY_LIMIT", settings.duckdb_memory_limit),
        ("FOUNDATION_QUERY_MEMORY_LIMIT", settings.query_memory_limit),
    ):
        if not MEMORY_SIZE.match(value):
            raise SettingsError(f"{name}={value!r} is not a memory size; give e.g. 512MB or 2GB")
    limits = (
        "max_columns",
        "max_nesting_depth",
        "max_record_bytes",
        "max_document_bytes",
        "query_timeout_seconds",
    )
    for name in limits:
        if getattr(settings, name) < 1:
            raise SettingsError(f"FOUNDATION_{name.upper()} must be at least 1")
    if min(settings.max_new_columns_per_file, settings.max_rejected_rows_per_file) < 0:
        raise SettingsError(
            "FOUNDATION_MAX_NEW_COLUMNS_PER_FILE and _MAX_REJECTED_ROWS_PER_FILE cannot be negative"
        )
    if settings.unfinished_audit_grace_seconds < 0:
        raise SettingsError("FOUNDATION_UNFINISHED_AUDIT_GRACE_SECONDS cannot be negative")
    if min(settings.maintenance_retention_days, settings.maintenance_orphan_grace_hours) < 0:
        raise SettingsError("maintenance retention days and orphan grace hours cannot be negative")
    return settings
