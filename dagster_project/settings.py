"""Settings: the one module that reads the environment; each setting is declared once, here.

The declaration (type, default, one line of documentation) is the `Settings` pydantic dataclass.
The environment is read by a pydantic-settings model derived from it; `.env.example` and the
README's settings table are generated from it (`dagster_project/settings_docs.py`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, create_model
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from dagster_project.errors import FoundationError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

# Catalog properties come from FOUNDATION_CATALOG__<PROP> with pyiceberg's own convention:
# "__" inside PROP becomes "." and "_" becomes "-", so FOUNDATION_CATALOG__S3__PATH_STYLE_ACCESS
# sets "s3.path-style-access".
CATALOG_PREFIX = "FOUNDATION_CATALOG__"
ENV_PREFIX = "FOUNDATION_"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# A memory size as DuckDB reads one: a number and a unit (512MB, 2GB, 1.5GiB).
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class SettingsError(FoundationError, ValueError):
    """An environment variable has a value the platform cannot use."""


def _file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def _memory_size(value: str) -> str:
    if value is not None and not MEMORY_SIZE.match(value):
        raise ValueError("is not a memory size; give e.g. 512MB or 2GB")
    return value


def _no_trailing_slash(value: str) -> str:
    return value if value is None else value.rstrip("/")  # None: unset in the environment


def doc(
    text: str,
    *,
    section: str | None = None,
    shown: str | None = None,
    env: str | None = None,
    example: str | None = None,
    **constraints: Any,
) -> Any:
    """One setting's documentation, for `Annotated[type, doc(...)] = default`.

    Args:
        text: One line: what the setting does (the README table and `.env.example` print it).
        section: Starts a group of `.env.example` here, under this title.
        shown: The default as the documentation shows it, when it is computed (paths, URIs).
        env: The variable, when it is not FOUNDATION_<NAME>; "" for a setting with no variable.
        example: The value `.env.example` writes (default: empty, which counts as unset).
        **constraints: pydantic constraints (ge=1, ...).
    """
    extra = {"section": section, "shown": shown, "env": env, "example": example}
    return Field(
        description=text, json_schema_extra={k: v for k, v in extra.items() if v is not None}, **constraints
    )


Uri = Annotated[str, AfterValidator(_no_trailing_slash)]
MemorySize = Annotated[str, AfterValidator(_memory_size)]


@dataclass(frozen=True, config=ConfigDict(arbitrary_types_allowed=False))
class Settings:
    """Where everything lives and how hard to work; defaults are the embedded profile under .data/."""

    data_dir: Annotated[
        Path,
        doc(
            "root of the embedded profile (catalog.db, warehouse/, landing/, quarantine/, dagster_home/); "
            "relative to the project folder",
            section="Where things live",
            shown=".data",
        ),
    ]
    landing_uri: Annotated[Uri, doc("landing zone root", shown="file://…/.data/landing")]
    warehouse_uri: Annotated[Uri, doc("Iceberg warehouse root", shown="file://…/.data/warehouse")]
    quarantine_uri: Annotated[
        Uri, doc("where rejected files are copied, with a JSON sidecar", shown="file://…/.data/quarantine")
    ]
    catalog_name: Annotated[
        str, doc("name given to `load_catalog`", section="Iceberg catalog", example="foundation")
    ] = "foundation"
    catalog_properties: Annotated[
        dict[str, str],
        doc(
            "any pyiceberg catalog property, named as pyiceberg does: `__` inside becomes `.`, `_` becomes "
            "`-` (`FOUNDATION_CATALOG__S3__PATH_STYLE_ACCESS` → `s3.path-style-access`); setting any "
            "replaces the embedded catalog: `…__TYPE=sql` + `…__URI=postgresql+psycopg2://user@host/db`, "
            "or `…__TYPE=rest` + `…__URI=http://…`, or `…__TYPE=glue`",
            env=CATALOG_PREFIX + "<PROP>",
            shown="SQLite catalog at `.data/catalog.db`",
        ),
    ] = dataclasses.field(default_factory=dict)
    sources_file: Annotated[
        Path,
        doc("the dataset registry", section="Files the platform reads", shown="dagster_project/sources.yml"),
    ] = PACKAGE_DIR / "sources.yml"
    expectations_dir: Annotated[
        Path, doc("the Great Expectations suites, <namespace>.<table>.json", shown="expectations/")
    ] = PROJECT_DIR / "expectations"
    documents_file: Annotated[
        Path,
        doc(
            "the document layer's prefix, chunking per source, thresholds",
            shown="dagster_project/documents.yml",
        ),
    ] = PACKAGE_DIR / "documents.yml"
    personas_file: Annotated[
        Path,
        doc(
            "personas and their table, column and row policies for `foundation query`",
            shown="dagster_project/governance/personas.yml",
        ),
    ] = PACKAGE_DIR / "governance" / "personas.yml"
    embedder: Annotated[
        str,
        doc("`minilm` (all-MiniLM-L6-v2, offline) or `package.module:factory`", example="minilm"),
    ] = "minilm"
    embedding_cache_days: Annotated[
        int,
        doc(
            "vectors in ops.embedding_cache older than this are pruned by the document sync (chunks on "
            "main keep theirs; a pruned text is embedded again when needed)",
            example="30",
            ge=1,
        ),
    ] = 30
    vector_ann_threshold: Annotated[
        int,
        doc(
            "chunks from which the vector index gets an approximate (HNSW) index; below it, search is exact",
            example="50000",
            ge=1,
        ),
    ] = 50_000
    search_mode: Annotated[
        Literal["hybrid", "vector"],
        doc(
            "how `foundation search` ranks chunks: `hybrid` (BM25 full text + vectors, reciprocal rank "
            "fusion) or `vector` (vectors only, for comparison)",
            example="hybrid",
        ),
    ] = "hybrid"
    sensor_interval_seconds: Annotated[
        int,
        doc(
            "seconds between sensor ticks; the daemon looks every 5 s, so up to 5 means at every look "
            "(5 itself skips a look now and then: a tick a hair under 5 s after the last one waits); "
            "a file waits about half a look plus its minimum age before its run is requested",
            section="Landing sensors",
            example="1",
            ge=1,
        ),
    ] = 1
    sensor_max_files_per_run: Annotated[
        int,
        doc(
            "files one sensor run carries (a tick requests one run per dataset; the rest come next tick)",
            example="500",
            ge=1,
        ),
    ] = 500
    sensor_max_bytes_per_run: Annotated[
        int,
        doc(
            "bytes one sensor run carries (2 GiB); a larger file is a run of its own",
            example="2147483648",
            ge=1,
        ),
    ] = 2 << 30
    sensor_min_file_age_seconds: Annotated[
        int, doc("how old a file must be before it is ingested (writers may still write)", example="2", ge=0)
    ] = 2
    sensor_lookback_seconds: Annotated[
        int,
        doc(
            "a file showing up with a time this far below the newest seen is still picked up",
            example="600",
            ge=0,
        ),
    ] = 600
    landing_queue_url: Annotated[
        str | None,
        doc(
            "notification mode (S3 only): the SQS queue of each dataset's ObjectCreated events, "
            "`{dataset}` standing for its name, e.g. "
            "`https://sqs.eu-west-1.amazonaws.com/123456789012/landing-{dataset}`; its sensor drains it "
            "instead of listing the prefix; unset: every tick lists",
            example="",
        ),
    ] = None
    landing_reconcile_seconds: Annotated[
        int,
        doc(
            "notification mode: a full listing of the prefix at most this often, for events that were lost "
            "(and on the first tick)",
            example="3600",
            ge=1,
        ),
    ] = 3600
    automation_interval_seconds: Annotated[
        int,
        doc(
            "seconds between ticks of `curated_automation`, which runs the models after raw commits "
            "(the daemon looks every 5 s: up to 5 means at every look)",
            example="1",
            ge=1,
        ),
    ] = 1
    duckdb_memory_limit: Annotated[
        MemorySize,
        doc(
            "DuckDB memory limit of an ingest run and of dbt's working database (spills to `.data/tmp`); "
            "with the Python process around it, an ingest stays under 1 GiB whatever the file's size",
            section="Engine limits",
            example="384MB",
        ),
    ] = "384MB"
    duckdb_threads: Annotated[int, doc("DuckDB threads; 0: all cores", example="0", ge=0)] = 0
    max_columns: Annotated[
        int, doc("columns one landed file may have", section="Limits on landed input", example="1000", ge=1)
    ] = 1000
    max_new_columns_per_file: Annotated[
        int, doc("undeclared columns one file may add to its table (0: none)", example="20", ge=0)
    ] = 20
    max_nesting_depth: Annotated[
        int, doc("levels of nesting of a JSON value; deeper rows are set apart", example="64", ge=1)
    ] = 64
    max_record_bytes: Annotated[
        int, doc("bytes of one CSV line or JSON record (8 MiB)", example="8388608", ge=1)
    ] = 8 << 20
    max_document_bytes: Annotated[int, doc("bytes of one document (64 MiB)", example="67108864", ge=1)] = (
        64 << 20
    )
    max_document_text_bytes: Annotated[
        int,
        doc(
            "bytes of one document's extracted text (24 MiB); bounds the memory of its sync",
            example="25165824",
            ge=1,
        ),
    ] = 24 << 20
    max_document_pages: Annotated[int, doc("pages of one PDF document", example="5000", ge=1)] = 5000
    max_rejected_rows_per_file: Annotated[
        int,
        doc(
            "rows of a file set apart one by one; past it the file is quarantined whole", example="1000", ge=0
        ),
    ] = 1000
    query_timeout_seconds: Annotated[
        int,
        doc(
            "wall-clock limit of one governed query, loading its tables included",
            section="Governed queries (foundation query)",
            example="60",
            ge=1,
        ),
    ] = 60
    query_memory_limit: Annotated[
        MemorySize,
        doc(
            "memory one governed query may take (DuckDB's limit and the process's data segment); "
            "2GB = 2*10^9 bytes, 2GiB = 2*2^30",
            example="2GB",
        ),
    ] = "2GB"
    pii_salt: Annotated[
        str | None,
        doc(
            "secret salt of the PII hashes (`email_hash`, the `hash` mask); unset: the installation's own, "
            "made at first use in `.data/secrets/pii_salt`; when set, the UI shows the variable's name only",
            section="Secrets",
            shown="the installation's own",
        ),
    ] = None
    s3_endpoint_url: Annotated[
        str | None,
        doc(
            "S3 API endpoint for MinIO or another S3-compatible store",
            section="S3 / MinIO (credentials: the standard AWS chain, e.g. AWS_ACCESS_KEY_ID / AWS_PROFILE)",
            shown="none (AWS)",
        ),
    ] = None
    s3_region: Annotated[
        str | None, doc("region for S3 clients and pyiceberg's FileIO (set it: without one pyarrow asks AWS)")
    ] = None
    maintenance_retention_days: Annotated[
        int,
        doc(
            "snapshots younger than this are kept (the time-travel window)",
            section="Table maintenance (the daily table_maintenance schedule)",
            example="7",
            ge=0,
        ),
    ] = 7
    maintenance_keep_last: Annotated[
        int,
        doc("main's newest commits kept whatever their age (main's head always stays)", example="10", ge=1),
    ] = 10
    maintenance_orphan_grace_hours: Annotated[
        int, doc("unreferenced files younger than this are left alone (writes in flight)", example="24", ge=0)
    ] = 24
    compaction_target_file_bytes: Annotated[
        int,
        doc(
            "size compaction aims for; files below 75 % of it are small (128 MiB)", example="134217728", ge=1
        ),
    ] = 128 << 20
    compaction_min_files: Annotated[
        int,
        doc(
            "small files a partition needs before it is compacted (one file is not compacted)",
            example="5",
            ge=2,
        ),
    ] = 5
    unfinished_audit_grace_seconds: Annotated[
        int,
        doc(
            "an audit branch without a verdict whose run cannot be checked (another machine) and with no "
            "commit for this long is removed by the next run",
            example="3600",
            ge=0,
        ),
    ] = 3600
    ray_address: Annotated[
        str | None,
        doc(
            "Ray cluster that runs the heavy steps (file conversion of a backlog, document extraction, "
            "chunking, embedding), e.g. `ray-head:6379` or `ray://ray-head:10001`; unset: all in the run's "
            "own process",
            section="Scaling out",
            example="",
        ),
    ] = None
    ray_embedding_actors: Annotated[
        int | None,
        doc(
            "embedding actors on the Ray cluster, each loading the model once; unset: one per GPU of the "
            "cluster, or one per CPU when it has no GPU",
            example="",
            ge=1,
        ),
    ] = None
    ray_embedding_batch_size: Annotated[
        int,
        doc(
            "most chunk texts per Ray Data batch handed to an embedding actor (fewer when the texts are "
            "few: each actor gets at least 4 batches)",
            example="256",
            ge=1,
        ),
    ] = 256
    docs_port: Annotated[
        int,
        doc(
            "port of the docs server: data cards and Data Docs over HTTP on 127.0.0.1 (`make dev` starts it)",
            section="Docs server (data cards and Data Docs)",
            example="3001",
            ge=1,
            le=65535,
        ),
    ] = 3001
    docs_url: Annotated[
        Uri | None,
        doc(
            "base URL of the card and Data Docs links in the UI, as the browser reaches the docs server",
            shown="http://127.0.0.1:<FOUNDATION_DOCS_PORT>",
        ),
    ] = None
    dagster_home: Annotated[
        Path | None,
        doc(
            "Dagster instance directory, an absolute path (`make` sets it)",
            section="Dagster",
            env="DAGSTER_HOME",
            shown=".data/dagster_home",
        ),
    ] = None

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
    def docs_base_url(self) -> str:
        """Where the browser reaches the docs server: `docs_url`, else http://127.0.0.1:<docs_port>."""
        return self.docs_url or f"http://127.0.0.1:{self.docs_port}"

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
        """These settings as variables, for a subprocess (dbt) to read the same ones back."""
        env = {}
        for name, info in declared().items():
            value = getattr(self, name)
            if name != "catalog_properties":
                env[variable(name, info)] = "" if value is None else str(value)
        for prop, value in self.catalog_properties.items():
            name = "__".join(part.replace("-", "_") for part in prop.split(".")).upper()
            env[CATALOG_PREFIX + name] = value
        if not self.dagster_home:
            del env["DAGSTER_HOME"]
        return env


def declared() -> dict[str, FieldInfo]:
    """Every setting's declaration (type, default, documentation), in declaration order."""
    return dict(Settings.__pydantic_fields__)


def variable(name: str, info: FieldInfo) -> str:
    """The environment variable of a setting: FOUNDATION_<NAME> unless its declaration names another."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("env") or ENV_PREFIX + name.upper())


class _EnvironmentBase(BaseSettings):
    # Variables are matched by their exact names (validation aliases); an empty one counts as unset.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore", frozen=True)


class _GivenBase(_EnvironmentBase):
    """A mapping given to `load_settings` is the whole environment: the process's is not read."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **sources):  # type: ignore[no-untyped-def]
        return (init_settings,)


def _environment_model(
    base: type[BaseSettings] = _EnvironmentBase, name: str = "Environment"
) -> type[BaseSettings]:
    """The pydantic-settings model of the environment, derived from the declaration of `Settings`.

    A setting whose default depends on another (the URIs under the data directory) reads as None
    when unset; `load_settings` fills it in.
    """
    fields: dict[str, Any] = {}
    for name, info in declared().items():
        if name == "catalog_properties":
            continue  # a family of variables, read by prefix
        required = info.is_required()
        annotation = info.annotation | None if required else info.annotation  # type: ignore[operator]
        default = None if required else info.get_default(call_default_factory=True)
        fields[name] = (
            annotation,
            FieldInfo.merge_field_infos(info, default=default, validation_alias=variable(name, info)),
        )
    return create_model(name, __base__=base, **fields)


Environment = _environment_model()
GivenEnvironment = _environment_model(_GivenBase, "GivenEnvironment")


def _problem(detail: dict[str, Any]) -> str:
    """One pydantic error on a variable, in the variable's words."""
    name = str(detail["loc"][0]) if detail["loc"] else "the environment"
    ctx = detail.get("ctx") or {}
    field = next((f for f, i in declared().items() if variable(f, i) == name), None)
    info = declared().get(field or "")
    example = info.get_default(call_default_factory=True) if info and not info.is_required() else None
    hint = f"; unset it or give e.g. {example}" if example is not None else ""
    kind = detail["type"]
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{name}={detail['input']!r} is not a whole number (int){hint}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{name}={detail['input']!r} must be at least {ctx.get('ge', ctx.get('gt'))}{hint}"
    if kind == "value_error":
        return f"{name}={detail['input']!r} {ctx['error']}"
    return f"{name}={detail['input']!r}: {detail['msg']}{hint}"


# Variables whose setting was renamed: set, they stop the platform rather than being ignored.
RENAMED = {"FOUNDATION_SENSOR_MAX_FILES_PER_TICK": "FOUNDATION_SENSOR_MAX_FILES_PER_RUN"}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment; with nothing set, the embedded default under .data/.

    Args:
        env: The environment to read; `os.environ` when omitted.

    Returns:
        The settings.

    Raises:
        SettingsError: A variable is set to something unusable; the message names it and the fix.
    """
    for old, new in RENAMED.items():
        if (os.environ if env is None else env).get(old):
            raise SettingsError(f"{old} was renamed: set {new} instead (and remove {old})")
    try:
        if env is None:
            read = Environment()
            env = os.environ
        else:
            read = GivenEnvironment(**{k: v for k, v in env.items() if v})
    except ValidationError as exc:
        raise SettingsError(_problem(exc.errors()[0])) from None
    values = {name: getattr(read, name) for name in type(read).model_fields}
    data_dir = values.pop("data_dir") or Path(".data")
    if not data_dir.is_absolute():
        data_dir = PROJECT_DIR / data_dir
    overrides = {name: value for name, value in values.items() if value is not None}
    catalog = {
        ".".join(part.replace("_", "-") for part in key[len(CATALOG_PREFIX) :].lower().split("__")): value
        for key, value in env.items()
        if key.startswith(CATALOG_PREFIX) and value
    }
    settings = Settings.for_data_dir(data_dir, **overrides)
    check_landing_queue(settings)
    check_ray_address(settings)
    if catalog:
        catalog.setdefault("warehouse", settings.warehouse_uri)
        settings = dataclasses.replace(settings, catalog_properties=catalog)
    return settings


def check_ray_address(settings: Settings) -> None:
    """The Ray address is `host:port`, `ray://host:port` or `auto`, as `ray.init` takes it.

    Raises:
        SettingsError: Anything else (a run would fail with Ray's bare `Invalid address format`).
    """
    address = settings.ray_address
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or any(c.isspace() or c in "/?#" for c in host):
        raise SettingsError(
            f"FOUNDATION_RAY_ADDRESS={address!r} is not a Ray address: give the head node's GCS address "
            "`host:6379` (from a Ray node) or its Ray Client address `ray://host:10001`"
        )


def check_landing_queue(settings: Settings) -> None:
    """Notification mode needs an S3 landing zone and one queue per dataset.

    Raises:
        SettingsError: The queue URL is set with a non-S3 landing zone, or lacks `{dataset}`.
    """
    url = settings.landing_queue_url
    if not url:
        return
    if not settings.landing_uri.startswith(("s3://", "s3a://")):
        raise SettingsError(
            f"FOUNDATION_LANDING_QUEUE_URL is set but FOUNDATION_LANDING_URI={settings.landing_uri} is "
            "not on S3: bucket notifications exist only for S3; unset FOUNDATION_LANDING_QUEUE_URL or land on s3://"
        )
    if "{dataset}" not in url:
        raise SettingsError(
            f"FOUNDATION_LANDING_QUEUE_URL={url} has no `{{dataset}}`: each dataset's sensor drains its own "
            "queue (a shared one would hand one dataset's events to another); e.g. "
            "https://sqs.<region>.amazonaws.com/<account>/landing-{dataset}"
        )
