"""Opening the Iceberg catalog safely: never re-created beside old data, every table load checked.

`open_catalog` is called on every run, sensor tick and command, so its checks are cheap on the
common path (a stat, a header read, one query); the warehouse is listed only when the catalog is
missing or lists no table. Errors name the file and the recovery step (`foundation catalog
recover`, in `lakehouse/catalog_recovery.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import ValidationError as PyIcebergValidationError
from pyiceberg.table import Table
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dagster_project.errors import EnvironmentFailure, FoundationError
from dagster_project.lakehouse.warehouse import warehouse_tables
from dagster_project.settings import Settings, SettingsError

SQLITE_HEADER = b"SQLite format 3\x00"
RECOVER_STEP = (
    "Recover with `foundation catalog recover` (it moves a broken catalog file aside, never deleting it, "
    "and registers every table of the warehouse from its newest readable metadata file), or restore the "
    "catalog database from a backup"
)


class CatalogCorrupt(FoundationError):
    """The catalog database is unusable, or would start empty beside existing tables: nothing re-created."""


class CatalogBesideOldData(CatalogCorrupt):
    """The catalog is missing or lists no table, while the warehouse holds committed tables."""


class CatalogUnavailable(EnvironmentFailure):
    """The catalog database or service did not answer (locked, refused, unreachable): the run retries."""


class TableUnreadable(EnvironmentFailure):
    """A table's current metadata file is missing or not valid metadata: its dataset stops, the others go on.

    An environment failure, not a user error: nothing the user gave is wrong, the landed files are
    fine (never quarantined, still due: the run fails and ingests them once the table is recovered
    or the file restored), exactly as for a store that is down.
    """

    def __init__(self, message: str, table: str = "", metadata_location: str | None = None):
        super().__init__(message)
        self.table = table
        self.metadata_location = metadata_location

    @classmethod
    def of(cls, table: str, metadata_location: str | None, cause: BaseException) -> TableUnreadable:
        """The error for a table whose metadata file at `metadata_location` failed with `cause`."""
        if isinstance(cause, FileNotFoundError):
            problem = "is missing"
        else:
            problem = "is not valid table metadata (truncated, empty or not JSON)"
        where = metadata_location or "(see `foundation catalog check`)"
        return cls(
            f"table {table}: its current metadata file {where} {problem}; only this table's work stops. "
            f"Recover with `foundation catalog recover --table {table}` (points it back at its newest "
            "readable metadata file; later commits, if any, are lost), or restore the file from a backup",
            table,
            metadata_location,
        )


def open_catalog(settings: Settings) -> Catalog:
    """Load the configured catalog (`load_catalog(name, **properties)`: SQL, REST, Glue alike).

    Never creates a catalog beside existing tables: an empty or corrupt SQLite file, a SQLite file
    without pyiceberg's tables, or a missing or table-less SQL catalog while the warehouse already
    holds committed tables is an error that names the recovery step. The common path costs a
    stat, a header read and one query; the warehouse is listed only when the catalog is missing
    or lists no table. Every table the catalog loads goes through `load_table`'s checks.

    Raises:
        CatalogCorrupt: The catalog is unusable or would start empty beside old data.
        CatalogUnavailable: The catalog database or service did not answer (retry).
        WarehouseUnavailable: The warehouse could not be listed (retry).
    """
    try:
        return _open_catalog(settings)
    except CatalogBesideOldData:
        # A concurrent first run may have created the catalog and a table between our look at the
        # catalog and our look at the warehouse: look once more before calling it old data.
        return _open_catalog(settings)


def _open_catalog(settings: Settings) -> Catalog:
    props = settings.resolved_catalog_properties()
    warehouse = props.get("warehouse", "")
    sqlite_file = sqlite_catalog_file(props)
    state = sqlite_file_state(sqlite_file) if sqlite_file else None
    if sqlite_file and state in ("missing", "empty"):
        _refuse_beside_old_data(props, warehouse, f"the catalog database {sqlite_file} {_STATES[state]}")
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    elif state == "sqlite":
        # An existing file must already hold the catalog: pyiceberg would otherwise add empty tables.
        props = {**props, "init_catalog_tables": "false"}
    if warehouse.startswith("file://"):
        Path(warehouse[len("file://") :]).mkdir(parents=True, exist_ok=True)
    catalog = load_catalog_checked(settings.catalog_name, props)
    if isinstance(catalog, SqlCatalog) and state not in ("missing", "empty"):
        if sqlite_file and not has_catalog_tables(catalog):
            raise CatalogCorrupt(
                f"the catalog database {sqlite_file} is a SQLite file without the Iceberg catalog tables "
                f"(iceberg_tables); nothing was created in it. If the catalog URI points at the wrong file, "
                f"fix FOUNDATION_CATALOG__URI. {RECOVER_STEP}."
            )
        if not _lists_a_table(catalog):
            _refuse_beside_old_data(
                props, warehouse, f"the catalog '{catalog.name}' at {_safe_uri(props)} lists no table"
            )
    _guard_table_loads(catalog)
    return catalog


def load_catalog_checked(name: str, props: dict[str, str]) -> Catalog:
    """`load_catalog` with its failures sorted: a corrupt SQLite file, or a catalog that did not answer."""
    try:
        return load_catalog(name, **props)
    except SQLAlchemyError as exc:
        raise _sql_error(exc, props) from exc
    except _request_errors() as exc:
        raise CatalogUnavailable(
            f"the Iceberg catalog at {props.get('uri', name)} did not answer ({type(exc).__name__}); "
            "check that it is running and reachable, then re-run"
        ) from exc
    except (ValueError, ImportError) as exc:  # e.g. an unknown catalog type, a missing driver
        raise SettingsError(
            f"the Iceberg catalog settings (FOUNDATION_CATALOG__*) do not work: {exc}; see README, Settings"
        ) from exc


def _request_errors() -> tuple[type[BaseException], ...]:
    """`requests.RequestException` once a client that can raise it (REST catalog, fsspec) imported it.

    Not imported here: a SQL catalog never raises it, and `foundation status` would pay for it.
    """
    requests = sys.modules.get("requests")
    return (requests.RequestException,) if requests is not None else ()


def load_table(catalog: Catalog, identifier: str | tuple[str, ...]) -> Table:
    """Load a table; a missing or broken current metadata file is `TableUnreadable`, naming both.

    Catalogs from `open_catalog` route their own `load_table` (and so `Table.refresh`) through
    here, so every caller gets the same error.

    Raises:
        NoSuchTableError: The catalog has no such table.
        TableUnreadable: Its current metadata file is missing, truncated or not table metadata.
        CatalogUnavailable: The catalog did not answer.
    """
    return _checked_load(catalog, catalog.load_table, identifier)


def _checked_load(catalog: Catalog, load, identifier: str | tuple[str, ...]) -> Table:  # noqa: ANN001
    try:
        return load(identifier)
    except SQLAlchemyError as exc:
        raise _sql_error(exc, catalog.properties) from exc
    except _request_errors() as exc:  # an OSError: sorted out before the file errors below
        raise CatalogUnavailable(f"the Iceberg catalog did not answer: {type(exc).__name__}") from exc
    except (FileNotFoundError, ValueError, PyIcebergValidationError) as exc:
        # Other OSErrors (a store that failed a read, a permission) propagate as they are: they
        # are not a broken file, and retrying or fixing access is what helps.
        name = identifier if isinstance(identifier, str) else ".".join(identifier)
        raise TableUnreadable.of(name, catalog_metadata_location(catalog, name), exc) from exc


def _guard_table_loads(catalog: Catalog) -> None:
    """Route the catalog's own `load_table` through `_checked_load` (pyiceberg calls it on refresh)."""
    unguarded = catalog.load_table
    catalog.load_table = lambda identifier: _checked_load(catalog, unguarded, identifier)  # type: ignore[method-assign]


def catalog_metadata_location(catalog: Catalog, identifier: str) -> str | None:
    """The metadata file a SQL catalog points a table at, from its row (None elsewhere or when absent)."""
    if not isinstance(catalog, SqlCatalog):
        return None
    namespace, _, name = identifier.rpartition(".")
    try:
        with Session(catalog.engine) as session:
            return session.scalar(
                select(IcebergTables.metadata_location).where(
                    IcebergTables.catalog_name == catalog.name,
                    IcebergTables.table_namespace == namespace,
                    IcebergTables.table_name == name,
                )
            )
    except SQLAlchemyError:
        return None


def sqlite_catalog_file(props: dict[str, str]) -> Path | None:
    uri = props.get("uri", "")
    if props.get("type", "sql") == "sql" and uri.startswith("sqlite:///") and ":memory:" not in uri:
        return Path(uri[len("sqlite:///") :].split("?", 1)[0])
    return None


_STATES = {"missing": "does not exist", "empty": "is empty (0 bytes)"}


def sqlite_file_state(path: Path) -> str:
    """'missing', 'empty' (0 bytes) or 'sqlite' (a SQLite header); anything else is `CatalogCorrupt`."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise CatalogUnavailable(f"the catalog database {path} could not be read: {exc.strerror}") from exc
    if not header:
        return "empty"
    if header != SQLITE_HEADER:
        raise CatalogCorrupt(
            f"the catalog database {path} is not a SQLite database (corrupt or overwritten); nothing was "
            f"created or changed. {RECOVER_STEP}."
        )
    return "sqlite"


def _sql_error(exc: SQLAlchemyError, props: Mapping[str, str]) -> FoundationError | EnvironmentFailure:
    """A corrupt SQLite file is `CatalogCorrupt`; anything else the database says is `CatalogUnavailable`."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return CatalogCorrupt(
            f"the catalog database {_safe_uri(props)} is corrupt ({orig.sqlite_errorname}); nothing was "
            f"created or changed. {RECOVER_STEP}."
        )
    return CatalogUnavailable(
        f"the Iceberg catalog database {_safe_uri(props)} did not answer ({type(exc).__name__}: "
        f"{getattr(orig, 'args', [''])[0] if orig is not None else exc}); check that it is running and "
        "reachable, then re-run"
    )


def _safe_uri(props: Mapping[str, str]) -> str:
    """The catalog URI without a password."""
    uri = props.get("uri", "")
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (REST): no password in it to hide
        return uri


def has_catalog_tables(catalog: SqlCatalog) -> bool:
    try:
        return sqlalchemy_inspect(catalog.engine).has_table(IcebergTables.__tablename__)
    except SQLAlchemyError as exc:
        raise _sql_error(exc, catalog.properties) from exc


def _lists_a_table(catalog: SqlCatalog) -> bool:
    try:
        with Session(catalog.engine) as session:
            stmt = select(IcebergTables.table_name).where(IcebergTables.catalog_name == catalog.name).limit(1)
            return session.scalar(stmt) is not None
    except SQLAlchemyError as exc:
        raise _sql_error(exc, catalog.properties) from exc


def _refuse_beside_old_data(props: dict[str, str], warehouse: str, what: str) -> None:
    """Raise `CatalogCorrupt` when the warehouse holds committed tables that the catalog would not know."""
    if not warehouse:
        return
    old = [t for t in warehouse_tables(props, warehouse) if t.has_commits]
    if not old:
        return  # a fresh installation: nothing to lose
    names = ", ".join(t.identifier for t in old[:5]) + (", ..." if len(old) > 5 else "")
    raise CatalogBesideOldData(
        f"{what}, but the warehouse {warehouse} holds {len(old)} table(s) ({names}): a new catalog beside "
        "old data would ingest everything again. Nothing was created. First check that the catalog "
        "settings (FOUNDATION_DATA_DIR, FOUNDATION_CATALOG__URI) point at your catalog; if they do, "
        f"it was lost: {RECOVER_STEP[0].lower()}{RECOVER_STEP[1:]}."
    )
