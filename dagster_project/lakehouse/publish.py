"""The write path: commit staged Parquet files to an Iceberg table exactly once per landed file version."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from dagster_project import faults
from dagster_project.lakehouse.branches import create_branch, held_branches, main_head, single_attempt
from dagster_project.lakehouse.changes import data_unchanged
from dagster_project.lakehouse.tables import iceberg_type
from dagster_project.landing.store import local_path

log = logging.getLogger(__name__)

FILES_PROPERTY = "foundation.files"
VERSIONS_PROPERTY = "foundation.landing-versions"
RUN_PROPERTY = "foundation.run-id"
# A rebuild's commit carries every file version of the rebuilt table: older ancestors no longer count.
REBUILD_PROPERTY = "foundation.rebuild"
# Model publishes also name the dbt invocation that wrote the rows (transform/build.py).
INVOCATION_PROPERTY = "foundation.dbt-invocation"


class PublishError(RuntimeError):
    """The batch could not be committed; nothing of it is visible in the table."""


@dataclass(frozen=True)
class StagedFile:
    """A landed file version converted to Parquet, waiting for its commit."""

    source_uri: str
    checksum: str
    parquet: Path
    rows: int
    size: int
    new_columns: dict[str, str] = field(default_factory=dict)
    version: str = ""  # the landing zone's version (size-mtime or ETag), so sensors can skip it

    @property
    def identity(self) -> tuple[str, str]:
        return (self.source_uri, self.checksum)


@dataclass
class PublishResult:
    """What one commit added, and what it skipped because it was already committed."""

    snapshot_id: int | None
    committed: list[StagedFile]
    already_ingested: list[StagedFile]
    attempts: int


def ingested_versions(
    table: Table, branch: str = MAIN_BRANCH, *, snapshot_id: int | None = None
) -> dict[tuple[str, str], int]:
    """Every (source URI, checksum) committed on `branch`, mapped to the snapshot that committed it.

    The identities live in the snapshot summaries of the branch's ancestry, written in the same
    commit as the rows, so this is exact whatever happened after a commit.

    Args:
        table: The table.
        branch: Whose ancestry to read.
        snapshot_id: Read this snapshot's ancestry instead of the branch's.
    """
    if snapshot_id is None:
        ref = table.metadata.refs.get(branch)
        snapshot_id = ref.snapshot_id if ref else None
    head = table.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else None
    seen: dict[tuple[str, str], int] = {}
    for snapshot in ancestors_of(head, table.metadata):
        payload = snapshot.summary.additional_properties.get(FILES_PROPERTY) if snapshot.summary else None
        if payload:
            for uri, checksum in json.loads(payload):
                seen.setdefault((uri, checksum), snapshot.snapshot_id)
        if rebuilt_at(snapshot):
            break
    return seen


def rebuilt_at(snapshot: Snapshot) -> bool:
    """Whether `snapshot` is a rebuild's swap: what its ancestors committed was replaced by it."""
    return bool(snapshot.summary and REBUILD_PROPERTY in snapshot.summary.additional_properties)


def landing_versions(table: Table) -> set[tuple[str, str]]:
    """(source URI, landing version) committed on main or held back by a failed audit.

    Sensors use it to skip files already handled without reading them (the version is the
    landing zone's size-mtime or ETag, so this is a fast pre-filter; exactly-once rests on the
    checksums of `ingested_versions`). A batch on an audit branch without a verdict (an audit
    that never finished) does not count: its files are still due.
    """
    seen: set[tuple[str, str]] = set()
    for name in [MAIN_BRANCH, *held_branches(table)]:
        ref = table.metadata.refs.get(name)
        if ref is None:
            continue
        for snapshot in ancestors_of(table.metadata.snapshot_by_id(ref.snapshot_id), table.metadata):
            payload = (
                snapshot.summary.additional_properties.get(VERSIONS_PROPERTY) if snapshot.summary else None
            )
            if payload:
                seen.update(json.loads(payload).items())
            if rebuilt_at(snapshot):
                break
    return seen


def held_versions(table: Table) -> set[tuple[str, str]]:
    """(source URI, checksum) of batches held back by a failed audit and not on main."""
    on_main = ingested_versions(table)
    held: set[tuple[str, str]] = set()
    for name in held_branches(table):
        held |= {identity for identity in ingested_versions(table, name) if identity not in on_main}
    return held


def publish_points(table: Table, limit: int = 100) -> list[Snapshot]:
    """main's publishes, newest first (at most `limit`): the snapshot each run moved main to.

    A run's publish may be several snapshots (an overwrite is a delete and an append); the one
    main was moved to is the newest of them. Commits without a run (the empty first snapshot,
    maintenance checkpoints and compactions) are not publishes.
    """
    head = main_head(table)
    points: list[Snapshot] = []
    later_run: str | None = None
    for snapshot in ancestors_of(table.metadata.snapshot_by_id(head) if head else None, table.metadata):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        run = summary.get(RUN_PROPERTY)
        if run is None or data_unchanged(snapshot):
            later_run = None
            continue
        if run != later_run:
            points.append(snapshot)
            if len(points) >= limit:
                break
        later_run = run
    return points


def _data_location(table: Table, run_id: str, day: str, index: int) -> str:
    return f"{table.location()}/data/_ingested_day={day}/{run_id}-{index:05d}-{uuid.uuid4().hex[:8]}.parquet"


def _place(table: Table, staged: Path, target: str) -> None:
    """Put a staged file at its place in the table; the staged file stays (the audit reads it there).

    A local warehouse gets a hard link (no copy) where it can; the caller removes its scratch space.
    """
    if target.startswith("file:") or "://" not in target:
        destination = local_path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(staged, destination)
        except OSError:  # another filesystem, or links not supported
            shutil.copyfile(staged, destination)
        return
    with open(staged, "rb") as source, table.io.new_output(target).create(overwrite=True) as sink:
        shutil.copyfileobj(source, sink, 8 << 20)


def _delete(table: Table, uri: str) -> None:
    try:
        table.io.delete(uri)
    except Exception:  # noqa: BLE001 - a leftover file is harmless (maintenance removes orphans)
        log.warning("could not remove uncommitted data file %s", uri)


def publish_batch(
    table: Table,
    staged: Sequence[StagedFile],
    *,
    run_id: str,
    ingest_day: str,
    branch: str = MAIN_BRANCH,
    max_attempts: int = 6,
    before_commit: Callable[[], None] | None = None,
    placed: dict[tuple[str, str], str] | None = None,
    branch_base: int | None = None,
    properties: Mapping[str, str] | None = None,
) -> PublishResult:
    """Add staged files to `branch` in one atomic commit, skipping versions already committed.

    The commit carries the file identities in its snapshot summary, so a retry, a rerun or a
    concurrent run racing for the same file can never commit a file version twice. On a
    concurrent commit the table is reloaded, the identities re-checked and the commit rebuilt
    (never re-applied blindly: pyiceberg's own retry is off for this commit).

    Args:
        table: The target table.
        staged: Converted files (Parquet written by `convert_file`).
        run_id: The Dagster run id, recorded in the snapshot summary.
        ingest_day: `YYYY-MM-DD` of the run's `_ingested_at`, for the data file path.
        branch: The branch to commit to (main, or an audit branch for Write-Audit-Publish).
        max_attempts: Commit attempts before giving up under contention.
        before_commit: Called right before each commit attempt (fault-injection hook for tests).
        placed: Where staged files were already moved into the table location, by identity;
            filled in by this call. Pass the same dict to commit the same files again (to another
            branch, as Write-Audit-Publish does when main moved under an audit).
        branch_base: Create `branch` at this snapshot in the same commit (it must not exist):
            a branch then never exists without its batch, and the identities are checked
            against this snapshot's ancestry.
        properties: More snapshot summary properties.

    Returns:
        The snapshot committed (None if every file was already committed) and the split.

    Raises:
        PublishError: Still conflicting after `max_attempts`, or the files do not fit the table.
    """
    placed = {} if placed is None else placed
    for attempt in range(1, max_attempts + 1):
        table.refresh()
        loaded = table.metadata_location
        done = ingested_versions(table, branch, snapshot_id=branch_base)
        todo = [s for s in staged if s.identity not in done]
        skipped = [s for s in staged if s.identity in done]
        for s in skipped:
            if s.identity in placed:
                _delete(table, placed.pop(s.identity))
            s.parquet.unlink(missing_ok=True)
        if not todo:
            return PublishResult(None, [], skipped, attempt)
        for index, s in enumerate(todo):
            if s.identity not in placed:
                target = _data_location(table, run_id, ingest_day, index)
                _place(table, s.parquet, target)
                placed[s.identity] = target
        new_columns: dict[str, str] = {}
        for s in todo:
            for name, type_name in s.new_columns.items():
                new_columns.setdefault(name, type_name)
        summary = {
            **(properties or {}),
            FILES_PROPERTY: json.dumps([list(s.identity) for s in todo]),
            VERSIONS_PROPERTY: json.dumps({s.source_uri: s.version for s in todo if s.version}),
            RUN_PROPERTY: run_id,
        }
        try:
            with single_attempt(table).transaction() as tx:
                if branch_base is not None:
                    create_branch(tx, branch, branch_base)
                existing = {f.name for f in tx.table_metadata.schema().fields}
                missing = {n: t for n, t in new_columns.items() if n not in existing}
                if missing:
                    with tx.update_schema() as update:
                        for name, type_name in missing.items():
                            update.add_column(name, iceberg_type(type_name), doc="Added by schema drift.")
                tx.add_files(
                    [placed[s.identity] for s in todo],
                    snapshot_properties=summary,
                    check_duplicate_files=False,
                    branch=branch,
                )
                if before_commit:
                    before_commit()
        except CommitFailedException as exc:
            log.info("commit to %s conflicted (attempt %d/%d): %s", table.name(), attempt, max_attempts, exc)
            continue
        except ValueError as exc:
            if moved_since(table, loaded):
                # Another writer committed meanwhile (e.g. to another audit branch: the catalog
                # then rejects our stale sequence number with a ValueError). A conflict, not bad
                # files: reload and decide again.
                log.info(
                    "commit to %s raced another writer (attempt %d/%d): %s",
                    table.name(),
                    attempt,
                    max_attempts,
                    exc,
                )
                continue
            for uri in placed.values():
                _delete(table, uri)
            raise PublishError(
                f"{'.'.join(table.name())}: the staged files do not fit the table: {exc}"
            ) from exc
        table.refresh()
        ref = table.metadata.refs.get(branch)
        faults.reached("publish.committed")
        return PublishResult(ref.snapshot_id if ref else None, todo, skipped, attempt)
    for uri in placed.values():
        _delete(table, uri)
    raise PublishError(
        f"{'.'.join(table.name())}: gave up after {max_attempts} conflicting commits; "
        "another writer keeps committing; retry the run"
    )


def moved_since(table: Table, metadata_location: str) -> bool:
    """Whether the table committed anything since it was loaded at `metadata_location` (reloads it)."""
    table.refresh()
    return table.metadata_location != metadata_location
