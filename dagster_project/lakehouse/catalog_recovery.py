"""Rebuilding a lost or broken catalog from the warehouse (`foundation catalog recover`).

The warehouse keeps every metadata file each table wrote; the catalog only points at the current
one. `recover_catalog` points the catalog back at each table's newest readable metadata file
(pyiceberg `register_table`), never deleting anything: a corrupt catalog file is moved aside.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.table.metadata import TableMetadata
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.catalog import (
    CatalogCorrupt,
    TableUnreadable,
    catalog_metadata_location,
    has_catalog_tables,
    load_catalog_checked,
    load_table,
    open_catalog,
    sqlite_catalog_file,
    sqlite_file_state,
)
from dagster_project.lakehouse.warehouse import (
    READ_ERRORS,
    MetadataFile,
    metadata_files,
    metadata_version,
    read_metadata,
    warehouse_io,
    warehouse_tables,
)
from dagster_project.settings import Settings

# SQLite keeps uncommitted pages here; a stale one beside a new database would be replayed into it.
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


class RecoveryRefused(FoundationError):
    """`foundation catalog recover` was asked for something it cannot do safely; nothing changed."""


@dataclass
class TableRecovery:
    """What recovery did (or, in a dry run, would do) to one table."""

    table: str
    action: str  # registered | repointed | unchanged | ambiguous | unrecoverable
    metadata: str | None = None  # the metadata file the table points at afterwards
    snapshots: int = 0
    passed_over: list[str] = field(default_factory=list)  # newer metadata files that did not load
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.action in ("registered", "repointed", "unchanged")


@dataclass
class RecoveryReport:
    """One recovery: the catalog file moved aside (if any) and what happened to each table."""

    dry_run: bool
    catalog: str
    moved_aside: list[tuple[str, str]] = field(default_factory=list)
    catalog_problem: str = ""
    tables: list[TableRecovery] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)


@dataclass(frozen=True)
class Candidate:
    """A metadata file that loads, with what it says."""

    file: MetadataFile
    metadata: TableMetadata


def _broken_sqlite(settings: Settings, props: dict[str, str], path: Path) -> str:
    """Why the SQLite catalog file must be moved aside ('' when it is missing or healthy)."""
    try:
        state = sqlite_file_state(path)
    except CatalogCorrupt:
        return "not a SQLite database"
    if state == "missing":
        return ""
    if state == "empty":
        return "empty (0 bytes)"
    try:
        probe = load_catalog_checked(settings.catalog_name, {**props, "init_catalog_tables": "false"})
        try:
            if not has_catalog_tables(probe):
                return "a SQLite file without the Iceberg catalog tables"
            with probe.engine.connect() as con:
                verdict = con.execute(text("PRAGMA quick_check")).scalar()
            return "" if verdict == "ok" else f"corrupt (SQLite quick_check: {verdict})"
        finally:
            probe.engine.dispose()
    except CatalogCorrupt as exc:
        return f"corrupt ({exc.__cause__.__class__.__name__ if exc.__cause__ else 'unreadable'})"


def _candidates(io: FileIO, files: Sequence[MetadataFile]) -> tuple[list[Candidate], dict[str, str]]:
    """The files that load (with their current snapshot's manifest list present), and why the others not."""
    loaded, failed = [], {}
    for file in files:
        try:
            metadata = read_metadata(io, file.uri)
            head = metadata.current_snapshot()
            if head is not None and not io.new_input(head.manifest_list).exists():
                failed[file.uri] = f"its manifest list {head.manifest_list} is missing"
                continue
        except FileNotFoundError:
            failed[file.uri] = "missing"
            continue
        except READ_ERRORS as exc:
            failed[file.uri] = f"not readable table metadata ({type(exc).__name__})"
            continue
        loaded.append(Candidate(file, metadata))
    return loaded, failed


def choose_metadata(table: str, io: FileIO, files: Sequence[MetadataFile]) -> TableRecovery:
    """Pick the newest metadata file that loads; refuse (action 'ambiguous') rather than guess.

    Two tables' metadata in one folder (a new catalog wrote a new table beside the old one), or two
    files at the newest version (a commit that lost a race or crashed left one) are for a person
    to choose with `--metadata`.
    """
    loaded, failed = _candidates(io, files)
    if not loaded:
        reasons = "; ".join(f"{uri.rsplit('/', 1)[-1]}: {why}" for uri, why in failed.items())
        return TableRecovery(
            table,
            "unrecoverable",
            note=f"no metadata file loads ({reasons or 'none found'}); restore a backup",
        )
    with_data = {c.metadata.table_uuid for c in loaded if c.metadata.snapshots}
    if len(with_data) > 1:
        newest = {
            u: max((c for c in loaded if c.metadata.table_uuid == u), key=lambda c: c.file.version)
            for u in with_data
        }
        listing = ", ".join(
            f"{c.file.uri} ({len(c.metadata.snapshots)} snapshot(s), table uuid {u})"
            for u, c in newest.items()
        )
        return TableRecovery(
            table,
            "ambiguous",
            note=f"metadata of {len(with_data)} different tables in one folder; newest of each: {listing}. "
            f"Choose with `foundation catalog recover --table {table} --metadata FILE`",
        )
    if with_data:
        loaded = [c for c in loaded if c.metadata.table_uuid in with_data]
    top = max(c.file.version for c in loaded)
    newest = [c for c in loaded if c.file.version == top]
    if len(newest) > 1:
        listing = ", ".join(c.file.uri for c in newest)
        return TableRecovery(
            table,
            "ambiguous",
            note=f"{len(newest)} metadata files at version {top} (a commit that lost a race or crashed left "
            f"one): {listing}. Choose with `foundation catalog recover --table {table} --metadata FILE`",
        )
    chosen = newest[0]
    passed = [f"{uri} ({why})" for uri, why in failed.items() if metadata_version(uri) > top]
    return TableRecovery(
        table, "registered", chosen.file.uri, len(chosen.metadata.snapshots), passed_over=passed
    )


def _point(catalog: Catalog, table: str, metadata: str, registered: bool) -> None:
    """Register the table at `metadata`, or move an existing entry to it in one statement."""
    namespace, _, name = table.rpartition(".")
    if not registered:
        catalog.create_namespace_if_not_exists(namespace)
        catalog.register_table(table, metadata)
        return
    if isinstance(catalog, SqlCatalog):
        # pyiceberg's SQL catalog cannot overwrite a registration; drop + register would leave a
        # moment without the table, in which an ingest would create a new one over the old data.
        old = catalog_metadata_location(catalog, table)
        with Session(catalog.engine) as session:
            session.execute(
                update(IcebergTables)
                .where(
                    IcebergTables.catalog_name == catalog.name,
                    IcebergTables.table_namespace == namespace,
                    IcebergTables.table_name == name,
                )
                .values(metadata_location=metadata, previous_metadata_location=old)
            )
            session.commit()
        return
    catalog.register_table(table, metadata, overwrite=True)


def registered_tables(catalog: Catalog | None) -> set[str]:
    """Every table of the catalog as `namespace.table` (none without a catalog)."""
    if catalog is None:
        return set()
    return {".".join(i) for ns in catalog.list_namespaces() for i in catalog.list_tables(ns)}


def _loads(catalog: Catalog, table: str) -> bool:
    try:
        load_table(catalog, table)
    except TableUnreadable:
        return False
    return True


def _move_aside(path: Path, stamp: str) -> list[tuple[str, str]]:
    moved = []
    for suffix in ("", *SQLITE_SIDECARS):
        source = path.with_name(path.name + suffix)
        if source.exists():
            target = path.with_name(f"{path.name}.broken-{stamp}{suffix}")
            os.replace(source, target)
            moved.append((str(source), str(target)))
    return moved


def recover_catalog(
    settings: Settings,
    *,
    tables: Sequence[str] = (),
    metadata: str | None = None,
    dry_run: bool = False,
) -> RecoveryReport:
    """Point the catalog at every table of the warehouse (or at `tables`) from its newest readable metadata.

    A table the catalog already loads is left alone (unless `metadata` names a file for it). A
    broken SQLite catalog file is moved aside as `<name>.broken-<UTC time>` with its journal
    files; the new catalog is built beside it under a temporary name and moved into place only
    when complete, so no process ever sees a half-registered catalog.

    Args:
        settings: The deployment (catalog and warehouse).
        tables: `namespace.table` names; empty means every table found.
        metadata: With exactly one table: the metadata file to point it at.
        dry_run: Report what would happen; move, create and register nothing.

    Returns:
        The report, table by table.

    Raises:
        RecoveryRefused: `metadata` without exactly one table, or `tables` while the catalog
            database itself is broken (recover it whole first).
    """
    if metadata and len(tables) != 1:
        raise RecoveryRefused("--metadata needs exactly one --table: the table to point at that file")
    props = settings.resolved_catalog_properties()
    warehouse = props.get("warehouse", "")
    sqlite_file = sqlite_catalog_file(props)
    report = RecoveryReport(dry_run, props.get("uri", settings.catalog_name))
    rebuild = False
    if sqlite_file is not None:
        report.catalog_problem = _broken_sqlite(settings, props, sqlite_file) or (
            "" if sqlite_file.exists() else "missing"
        )
        rebuild = bool(report.catalog_problem)
        if rebuild and tables:
            raise RecoveryRefused(
                f"the catalog database {sqlite_file} is {report.catalog_problem}: recover it whole first "
                "(`foundation catalog recover` without --table)"
            )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    building = sqlite_file.with_name(f"{sqlite_file.name}.recovering-{stamp}") if rebuild else None
    catalog: Catalog | None = None
    if building is not None and not dry_run:
        catalog = load_catalog_checked(settings.catalog_name, {**props, "uri": f"sqlite:///{building}"})
    elif not rebuild:
        catalog = load_catalog_checked(settings.catalog_name, props)
    try:
        registered = registered_tables(catalog)
        found = {t.identifier: t for t in warehouse_tables(props, warehouse)} if warehouse else {}
        names = list(tables) or sorted(set(found) | registered)
        io = warehouse_io(props, warehouse or metadata or "")
        for name in names:
            report.tables.append(
                _recover_table(catalog, io, name, found, registered, metadata if tables else None, dry_run)
            )
    except BaseException:
        if building is not None and catalog is not None:  # our half-built catalog; the old file is untouched
            catalog.engine.dispose()
            building.unlink(missing_ok=True)
        raise
    if building is not None and not dry_run:
        catalog.engine.dispose()
        report.moved_aside = _move_aside(sqlite_file, stamp)
        os.replace(building, sqlite_file)
    if not dry_run and report.ok:
        open_catalog(settings)  # the result passes the same checks every run makes
    return report


def _recover_table(
    catalog: Catalog | None,
    io: FileIO,
    name: str,
    found: dict,
    registered: set[str],
    metadata: str | None,
    dry_run: bool,
) -> TableRecovery:
    is_registered = name in registered
    if is_registered and metadata is None and _loads(catalog, name):
        current = load_table(catalog, name)
        outcome = TableRecovery(name, "unchanged", current.metadata_location, len(current.metadata.snapshots))
        if name in found:
            uuid = current.metadata.table_uuid
            outcome.note = _other_tables_note(io, name, uuid, found[name].metadata_files)
        return outcome
    if metadata is not None:
        outcome = choose_metadata(name, io, [MetadataFile(metadata, metadata_version(metadata), 0, _EPOCH)])
        if outcome.action == "unrecoverable":
            outcome.note = f"{metadata} does not load: {outcome.note}"
    elif name in found:
        outcome = choose_metadata(name, io, found[name].metadata_files)
    elif is_registered and (current := catalog_metadata_location(catalog, name)):
        folder = current.rsplit("/", 2)[0]  # <location>/metadata/<file>: the table's own location
        outcome = choose_metadata(name, io, metadata_files(io, folder))
    else:
        return TableRecovery(name, "unrecoverable", note="no metadata files of this table in the warehouse")
    if not outcome.ok:
        return outcome
    outcome.action = "repointed" if is_registered else "registered"
    if not dry_run:
        _point(catalog, name, outcome.metadata, is_registered)
        load_table(catalog, name)  # it loads now, or the error names the file
    return outcome


_EPOCH = datetime.fromtimestamp(0, UTC)


def _other_tables_note(io: FileIO, name: str, uuid: object, files: Sequence[MetadataFile]) -> str:
    """A warning when the table's folder also holds the metadata of another table with data."""
    loaded, _ = _candidates(io, files)
    others = [c for c in loaded if c.metadata.table_uuid != uuid and c.metadata.snapshots]
    if not others:
        return ""
    newest = max(others, key=lambda c: c.file.version)
    return (
        f"its folder also holds the metadata of another table with data (newest {newest.file.uri}, "
        f"{len(newest.metadata.snapshots)} snapshot(s)): a table created again over an old one? To switch "
        f"to the old one: `foundation catalog recover --table {name} --metadata {newest.file.uri}`"
    )
