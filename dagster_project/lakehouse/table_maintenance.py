"""Table maintenance: expire old snapshots without losing what readers need, and remove orphan files."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.table.update.snapshot import ExpireSnapshots

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.changes import (
    CHECKPOINT_PROPERTY,
    WATERMARK_PROPERTY,
    data_unchanged,
    is_checkpoint,
)
from dagster_project.lakehouse.publish import FILES_PROPERTY, VERSIONS_PROPERTY, rebuilt_at
from dagster_project.lakehouse.pyiceberg_adapter import require_main_at
from dagster_project.lakehouse.warehouse import (
    METADATA_SUFFIX,
    READ_ERRORS,
    StoredFile,
    files_referenced,
    list_files,
    metadata_version,
    read_metadata,
)

log = logging.getLogger(__name__)

# Only files Iceberg itself writes are ever deleted; anything else under a table stays.
ICEBERG_SUFFIXES = (".parquet", ".avro", ".orc", ".metadata.json", ".puffin", ".stats")
MAX_ATTEMPTS = 3


# Past this share of a table's files (and this many), files that no metadata file of the table ever
# named are not leftovers of aborted writes but someone else's data: orphan removal refuses.
BULK_UNREFERENCED_SHARE = 0.5
BULK_UNREFERENCED_MIN_FILES = 10


class MaintenanceConflict(RuntimeError):
    """Another writer kept committing during maintenance; nothing changed, the next run retries."""


class OrphanRemovalRefused(FoundationError):
    """The warehouse holds files no table of the catalog ever referenced, in bulk: nothing is deleted."""


@dataclass(frozen=True)
class TableStats:
    """Size of a table at one moment: snapshots kept, and the data files main reads."""

    snapshots: int
    data_files: int
    data_bytes: int


@dataclass
class MaintenanceReport:
    """What one maintenance operation did to one table, with the table's stats before and after."""

    table: str
    operation: str
    before: TableStats
    after: TableStats
    files_removed: int = 0
    bytes_removed: int = 0
    files_added: int = 0
    snapshots_expired: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)


def table_name(table: Table) -> str:
    return ".".join(table.name())


def table_stats(table: Table) -> TableStats:
    """Snapshot count plus data files and bytes of main's current snapshot."""
    head = table.current_snapshot()
    files = bytes_ = 0
    if head is not None:
        for manifest in head.manifests(table.io):
            if manifest.content.value != 0:  # delete manifests hold no data files
                continue
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                files += 1
                bytes_ += entry.data_file.file_size_in_bytes
    return TableStats(len(table.metadata.snapshots), files, bytes_)


def without_commit_retries(table: Table) -> Table:
    """The same table, but pyiceberg does not retry its commits: maintenance re-plans on conflict.

    pyiceberg's retry rebuilds a snapshot on the new head with the properties planned for the old
    one; a checkpoint would then carry stale watermarks. The catalog never sees this property.
    """
    properties = {**table.metadata.properties, "commit.retry.num-retries": "0"}
    metadata = table.metadata.model_copy(update={"properties": properties})
    return Table(table.name(), metadata, table.metadata_location, table.io, table.catalog)


def files_committed_ms(snapshot: Snapshot) -> int | None:
    """When the landed files a snapshot carries were committed (a checkpoint: the newest it carries)."""
    extra = snapshot.summary.additional_properties if snapshot.summary else {}
    if not json.loads(extra.get(FILES_PROPERTY, "[]")):
        return None
    if CHECKPOINT_PROPERTY in extra:
        return json.loads(extra[CHECKPOINT_PROPERTY]).get("files_committed_ms")
    return None if data_unchanged(snapshot) else snapshot.timestamp_ms


def _expirable(table: Table, cutoff_ms: int, keep_last: int) -> list[Snapshot]:
    metadata = table.metadata
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    head = table.current_snapshot()
    if head is not None:
        # Checkpoints do not count: otherwise each run would expire the last one and write another.
        commits = (s for s in ancestors_of(head, metadata) if not is_checkpoint(s))
        protected |= {s.snapshot_id for _, s in zip(range(keep_last), commits, strict=False)}
    return [s for s in metadata.snapshots if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected]


def _carried(table: Table, expiring: set[int]) -> dict[str, str]:
    """Summary properties the expiring ancestors of main hold that no retained snapshot holds."""
    head = table.current_snapshot()
    if head is None:
        return {}
    files: dict[tuple[str, str], None] = {}
    versions: dict[str, str] = {}
    newest_watermarks: tuple[int, str] | None = None  # (is it expiring, payload)
    for snapshot in ancestors_of(head, table.metadata):
        extra = snapshot.summary.additional_properties if snapshot.summary else {}
        if newest_watermarks is None and WATERMARK_PROPERTY in extra:
            newest_watermarks = (snapshot.snapshot_id in expiring, extra[WATERMARK_PROPERTY])
        if snapshot.snapshot_id not in expiring:
            if rebuilt_at(snapshot):  # older ancestors' files were replaced by the rebuild
                break
            continue
        for identity in json.loads(extra.get(FILES_PROPERTY, "[]")):
            files[tuple(identity)] = None
        for uri, version in json.loads(extra.get(VERSIONS_PROPERTY, "{}")).items():
            versions.setdefault(uri, version)  # newest first: keep the newest version of a URI
        if rebuilt_at(snapshot):
            break
    carried: dict[str, str] = {}
    if files:
        carried[FILES_PROPERTY] = json.dumps([list(identity) for identity in files])
    if versions:
        carried[VERSIONS_PROPERTY] = json.dumps(versions)
    if newest_watermarks and newest_watermarks[0]:
        carried[WATERMARK_PROPERTY] = newest_watermarks[1]
    return carried


def expire_snapshots(
    table: Table,
    *,
    older_than: timedelta,
    keep_last: int,
    dry_run: bool = False,
    now: datetime | None = None,
) -> MaintenanceReport:
    """Expire snapshots older than `older_than`, keeping ref heads and main's last `keep_last` commits.

    Exactly-once ingest, the sensors and incremental dbt models read main's ancestry summaries
    (file identities, landing versions, watermarks). What the expiring ancestors of main carry is
    therefore committed first as one data-less checkpoint snapshot on main, in the same atomic
    commit as the expiry: a crash leaves either both or neither. Data files are not deleted here;
    those no retained snapshot needs become orphans for `remove_orphan_files`.

    Args:
        table: The table.
        older_than: Snapshots committed longer ago than this may expire.
        keep_last: main's newest commits that never expire, whatever their age (checkpoints
            are not counted).
        dry_run: Report what would expire without committing.
        now: The current time (tests pass their own).

    Returns:
        The report (snapshots before and after, how many expired).

    Raises:
        MaintenanceConflict: Other commits kept moving main during `MAX_ATTEMPTS` attempts.
    """
    now = now or datetime.now(UTC)
    cutoff_ms = int((now - older_than).timestamp() * 1000)
    table.refresh()
    report = MaintenanceReport(table_name(table), "expire_snapshots", table_stats(table), table_stats(table))
    report.dry_run = dry_run
    for _ in range(MAX_ATTEMPTS):
        table.refresh()
        expiring = _expirable(table, cutoff_ms, keep_last)
        report.snapshots_expired = len(expiring)
        if not expiring or dry_run:
            return report
        ids = {s.snapshot_id for s in expiring}
        carried = _carried(table, ids)
        writer = without_commit_retries(table)
        tx = writer.transaction()
        # Planned against this head of main: if main moves, the commit fails and is planned again.
        head = table.current_snapshot()
        require_main_at(tx, head.snapshot_id if head else None)
        if carried:
            checkpoint = {"expired": len(ids), "cutoff_ms": cutoff_ms}
            landed = [t for t in map(files_committed_ms, expiring) if t is not None]
            if landed:  # freshness asks when files last landed, which a checkpoint must not reset
                checkpoint["files_committed_ms"] = max(landed)
            carried[CHECKPOINT_PROPERTY] = json.dumps(checkpoint)
            with tx.update_snapshot(snapshot_properties=carried, branch=MAIN_BRANCH).fast_append():
                pass
        ExpireSnapshots(tx).by_ids(sorted(ids)).commit()
        try:
            tx.commit_transaction()
        except CommitFailedException as exc:
            log.info("%s: main moved during expiry, planning again: %s", report.table, exc)
            continue
        table.refresh()
        report.after = table_stats(table)
        if carried:
            report.notes.append("checkpoint committed on main with the expired snapshots' summaries")
        return report
    raise MaintenanceConflict(
        f"{report.table}: main moved {MAX_ATTEMPTS} times while expiring snapshots; "
        "nothing was expired, the next maintenance run retries"
    )


def _key(uri: str) -> str:
    """A location without its scheme, so `file:///a/b`, `/a/b` and `s3://b/k` vs `b/k` compare equal."""
    parsed = urlparse(uri)
    return f"{parsed.netloc}{parsed.path}" if parsed.scheme else uri


def referenced_files(table: Table) -> set[str]:
    """Every file a retained snapshot or the metadata needs (keys as `_key` makes them)."""
    metadata = table.metadata
    found = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    found |= {s.statistics_path for s in metadata.statistics}
    found |= {s.statistics_path for s in metadata.partition_statistics}
    manifests_seen: set[str] = set()
    for snapshot in metadata.snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            found.add(manifest.manifest_path)
            if manifest.manifest_path in manifests_seen:
                continue
            manifests_seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                found.add(entry.data_file.file_path)
    return {_key(uri) for uri in found}


def list_table_files(table: Table) -> list[StoredFile]:
    """Every file under the table's location, through the table's own FileIO filesystem."""
    return list_files(table.io, table.location())


def _deletion_rank(file: StoredFile) -> int:
    """Data files first, metadata files last: a crash midway never leaves a data file whose metadata is gone.

    Files only a deleted metadata file named would look never referenced to the next run's check.
    """
    name = file.uri.rsplit("/", 1)[-1]
    if name.endswith(METADATA_SUFFIX):
        return 3
    if name.startswith("snap-"):
        return 2
    return 1 if name.endswith(".avro") else 0


def refuse_foreign_files(table: Table, stored: list[StoredFile], referenced: set[str]) -> None:
    """Refuse orphan removal when the unreferenced files look like another table's data, not leftovers.

    Two signs of a new catalog beside old data: metadata files of another table (another table
    uuid, with snapshots) under this table's location; or, in bulk, files that no metadata file
    of this table ever referenced (the current one, those in its metadata log, and unreferenced
    ones of the same table, such as a commit that lost a race).

    Raises:
        OrphanRemovalRefused: Either sign was found; nothing was deleted.
    """
    name, io, uuid = table_name(table), table.io, table.metadata.table_uuid
    known = [table.metadata]
    for entry in table.metadata.metadata_log:
        with contextlib.suppress(*READ_ERRORS):
            known.append(read_metadata(io, entry.metadata_file))
    foreign: dict[str, tuple[str, int]] = {}  # table uuid -> (newest file, snapshots)
    for file in stored:
        if not file.uri.endswith(METADATA_SUFFIX) or _key(file.uri) in referenced:
            continue
        try:
            metadata = read_metadata(io, file.uri)
        except READ_ERRORS:
            continue  # a metadata file a crash left half written: a leftover like any other
        if metadata.table_uuid == uuid:
            known.append(metadata)
        elif metadata.snapshots:
            newest = foreign.get(str(metadata.table_uuid))
            if newest is None or metadata_version(file.uri) > metadata_version(newest[0]):
                foreign[str(metadata.table_uuid)] = (file.uri, len(metadata.snapshots))
    if foreign:
        found = "; ".join(f"table uuid {u}: newest {f} ({n} snapshot(s))" for u, (f, n) in foreign.items())
        raise OrphanRemovalRefused(
            f"{name}: refusing to remove orphan files: {table.location()} also holds the metadata of "
            f"another table ({found}), the sign of a new catalog created beside old data. Nothing was "
            f"deleted. If the old table is the right one: `foundation catalog recover --table {name} "
            "--metadata FILE` with its newest file; if it is really unwanted, move its files away by hand"
        )
    ever = referenced | {_key(uri) for uri in files_referenced(io, known)}
    never = [f for f in stored if _key(f.uri) not in ever and not f.uri.endswith(METADATA_SUFFIX)]
    if len(never) >= BULK_UNREFERENCED_MIN_FILES and len(never) > BULK_UNREFERENCED_SHARE * len(stored):
        raise OrphanRemovalRefused(
            f"{name}: refusing to remove orphan files: {len(never)} of the {len(stored)} files under "
            f"{table.location()} (e.g. {never[0].uri}) were never referenced by any metadata file of this "
            "table, the sign of data written by another catalog or restored without its metadata. Nothing "
            "was deleted. Run `foundation catalog check`; `foundation catalog recover` registers tables "
            "from their own metadata. Move files that are really unwanted away by hand"
        )


def remove_orphan_files(
    table: Table,
    *,
    older_than: timedelta,
    dry_run: bool = False,
    now: datetime | None = None,
) -> MaintenanceReport:
    """Delete files under the table's location that neither the metadata nor any snapshot needs.

    Files younger than `older_than` are never touched: a writer places its data files before it
    commits them (an ingest or an audit branch in flight), so a fresh unreferenced file may be
    about to become live. Only Iceberg file types are deleted, and nothing at all when the
    location looks like it holds another table's data (`refuse_foreign_files`).

    Args:
        table: The table.
        older_than: The grace period; only files last modified before now minus this are removed.
        dry_run: Report what would be removed without deleting.
        now: The current time (tests pass their own).

    Returns:
        The report (files and bytes removed; data stats before and after are unchanged by design).

    Raises:
        OrphanRemovalRefused: Another table's data seems to be under the location; nothing deleted.
    """
    now = now or datetime.now(UTC)
    table.refresh()
    stats = table_stats(table)
    report = MaintenanceReport(table_name(table), "remove_orphan_files", stats, stats, dry_run=dry_run)
    # List first, then read references: a file committed in between is referenced, not orphaned.
    stored = list_table_files(table)
    table.refresh()
    referenced = referenced_files(table)
    cutoff = now - older_than
    orphans = [
        f
        for f in stored
        if _key(f.uri) not in referenced and f.uri.endswith(ICEBERG_SUFFIXES) and f.modified < cutoff
    ]
    if orphans:
        refuse_foreign_files(table, stored, referenced)
    for file in sorted(orphans, key=_deletion_rank):
        if not dry_run:
            table.io.delete(file.uri)
        report.files_removed += 1
        report.bytes_removed += file.size
    table.refresh()
    report.after = table_stats(table)
    return report
