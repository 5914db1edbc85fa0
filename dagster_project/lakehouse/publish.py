"""The write path: commit staged Parquet files to an Iceberg table exactly once per landed file version."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.lakehouse.tables import iceberg_type
from dagster_project.landing.store import local_path

log = logging.getLogger(__name__)

FILES_PROPERTY = "foundation.files"
VERSIONS_PROPERTY = "foundation.landing-versions"
RUN_PROPERTY = "foundation.run-id"
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


def ingested_versions(table: Table, branch: str = MAIN_BRANCH) -> dict[tuple[str, str], int]:
    """Every (source URI, checksum) committed on `branch`, mapped to the snapshot that committed it.

    The identities live in the snapshot summaries of the branch's ancestry, written in the same
    commit as the rows, so this is exact whatever happened after a commit.
    """
    ref = table.metadata.refs.get(branch)
    head = table.metadata.snapshot_by_id(ref.snapshot_id) if ref else None
    seen: dict[tuple[str, str], int] = {}
    for snapshot in ancestors_of(head, table.metadata):
        payload = snapshot.summary.additional_properties.get(FILES_PROPERTY) if snapshot.summary else None
        if payload:
            for uri, checksum in json.loads(payload):
                seen.setdefault((uri, checksum), snapshot.snapshot_id)
    return seen


def landing_versions(table: Table) -> set[tuple[str, str]]:
    """(source URI, landing version) committed on main or held on an audit branch.

    Sensors use it to skip files already handled without reading them (the version is the
    landing zone's size-mtime or ETag, so this is a fast pre-filter; exactly-once rests on the
    checksums of `ingested_versions`).
    """
    seen: set[tuple[str, str]] = set()
    for name, ref in table.metadata.refs.items():
        if name != MAIN_BRANCH and not name.startswith("audit-"):
            continue
        for snapshot in ancestors_of(table.metadata.snapshot_by_id(ref.snapshot_id), table.metadata):
            payload = (
                snapshot.summary.additional_properties.get(VERSIONS_PROPERTY) if snapshot.summary else None
            )
            if payload:
                seen.update(json.loads(payload).items())
    return seen


def held_versions(table: Table) -> set[tuple[str, str]]:
    """(source URI, checksum) committed on audit branches and not on main: batches held back."""
    on_main = ingested_versions(table)
    held: set[tuple[str, str]] = set()
    for name in table.metadata.refs:
        if name.startswith("audit-"):
            held |= {identity for identity in ingested_versions(table, name) if identity not in on_main}
    return held


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
) -> PublishResult:
    """Add staged files to `branch` in one atomic commit, skipping versions already committed.

    The commit carries the file identities in its snapshot summary, so a retry, a rerun or a
    concurrent run racing for the same file can never commit a file version twice. On a
    concurrent commit the table is reloaded, the identities re-checked and the commit rebuilt.

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

    Returns:
        The snapshot committed (None if every file was already committed) and the split.

    Raises:
        PublishError: Still conflicting after `max_attempts`, or the files do not fit the table.
    """
    placed = {} if placed is None else placed
    for attempt in range(1, max_attempts + 1):
        table.refresh()
        done = ingested_versions(table, branch)
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
        properties = {
            FILES_PROPERTY: json.dumps([list(s.identity) for s in todo]),
            VERSIONS_PROPERTY: json.dumps({s.source_uri: s.version for s in todo if s.version}),
            RUN_PROPERTY: run_id,
        }
        try:
            with table.transaction() as tx:
                existing = {f.name for f in tx.table_metadata.schema().fields}
                missing = {n: t for n, t in new_columns.items() if n not in existing}
                if missing:
                    with tx.update_schema() as update:
                        for name, type_name in missing.items():
                            update.add_column(name, iceberg_type(type_name), doc="Added by schema drift.")
                tx.add_files(
                    [placed[s.identity] for s in todo],
                    snapshot_properties=properties,
                    check_duplicate_files=False,
                    branch=branch,
                )
                if before_commit:
                    before_commit()
        except CommitFailedException as exc:
            log.info("commit to %s conflicted (attempt %d/%d): %s", table.name(), attempt, max_attempts, exc)
            continue
        except ValueError as exc:
            for uri in placed.values():
                _delete(table, uri)
            raise PublishError(
                f"{'.'.join(table.name())}: the staged files do not fit the table: {exc}"
            ) from exc
        table.refresh()
        ref = table.metadata.refs.get(branch)
        return PublishResult(ref.snapshot_id if ref else None, todo, skipped, attempt)
    for uri in placed.values():
        _delete(table, uri)
    raise PublishError(
        f"{'.'.join(table.name())}: gave up after {max_attempts} conflicting commits; "
        "another writer keeps committing; retry the run"
    )
