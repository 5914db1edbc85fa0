"""Write-Audit-Publish: a batch is committed to an audit branch, audited there, and only then becomes main."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.lakehouse.publish import (
    FILES_PROPERTY,
    RUN_PROPERTY,
    VERSIONS_PROPERTY,
    PublishError,
    PublishResult,
    StagedFile,
    ingested_versions,
    publish_batch,
)

log = logging.getLogger(__name__)


class AuditFailed(RuntimeError):
    """The audit rejected the batch: main is untouched and the audit branch is kept for inspection."""

    def __init__(self, message: str, branch: str, snapshot_id: int):
        super().__init__(message)
        self.branch = branch
        self.snapshot_id = snapshot_id


@dataclass(frozen=True)
class Verdict:
    """An audit's answer: whether the batch may be published, and why not."""

    passed: bool
    reason: str = ""


# An audit looks at the batch committed on `branch` (snapshot `snapshot_id`) and decides.
Audit = Callable[[Table, str, int, PublishResult], Verdict]


@dataclass
class WapResult:
    """What Write-Audit-Publish did: the publish (None if nothing new) and how often main moved."""

    published_snapshot_id: int | None
    publish: PublishResult
    branch: str
    rebases: int


def audit_branch(run_id: str) -> str:
    """The audit branch of a run (named after it, so a held-back batch is easy to find)."""
    return f"audit-{run_id}"


def main_head(table: Table) -> int | None:
    ref = table.metadata.refs.get(MAIN_BRANCH)
    return ref.snapshot_id if ref else None


def ensure_main_snapshot(table: Table) -> int:
    """main's head, first committing an empty snapshot to a table that has none.

    pyiceberg writes to a branch only once the table has a snapshot, and a branch needs one to
    start from; an empty first snapshot gives both without publishing any rows.
    """
    head = main_head(table)
    if head is not None:
        return head
    try:
        with table.transaction() as tx:
            with tx.update_snapshot(snapshot_properties={"foundation.note": "empty start"}).fast_append():
                pass
    except CommitFailedException:  # another writer made the first commit: use theirs
        pass
    table.refresh()
    head = main_head(table)
    assert head is not None
    return head


def reset_branch(table: Table, branch: str, base: int) -> None:
    """Point `branch` at `base`, dropping what a previous attempt of the same run left on it."""
    if branch in table.metadata.refs:
        table.manage_snapshots().remove_branch(branch).commit()
    table.manage_snapshots().create_branch(base, branch).commit()


def fast_forward(table: Table, branch: str, base: int) -> bool:
    """Move main to the head of `branch` if main is still `base`, then remove the branch.

    Returns:
        False when main moved since `base` (the caller re-applies its batch on the new main).
    """
    table.refresh()
    if main_head(table) != base:
        log.info("%s: main moved during the audit; re-applying on the new main", table.name())
        return False
    try:
        # The catalog asserts main is still `base` in this commit: a fast-forward only.
        table.manage_snapshots().set_current_snapshot(ref_name=branch).commit()
    except CommitFailedException:
        log.info("%s: main moved while publishing; re-applying on the new main", table.name())
        return False
    table.refresh()
    table.manage_snapshots().remove_branch(branch).commit()
    return True


def write_audit_publish(
    table: Table,
    staged: Sequence[StagedFile],
    *,
    run_id: str,
    ingest_day: str,
    audit: Audit,
    max_rebases: int = 3,
    before_publish: Callable[[], None] | None = None,
) -> WapResult:
    """Commit a batch to `audit-<run id>`, audit it, then fast-forward main to it.

    main only moves if it is still where the branch started (checked here and asserted by the
    catalog in the same commit), so publishing never drops a concurrent commit: if main moved,
    the branch is rebuilt on the new main with the same data files (skipping file versions the
    concurrent commit already holds) and audited again.

    Args:
        table: The target table.
        staged: Converted files to publish.
        run_id: The run (branch name and snapshot summary).
        ingest_day: `YYYY-MM-DD` of the run's `_ingested_at`.
        audit: Decides on the batch as committed on the branch.
        max_rebases: How often main may move under the audit before giving up.
        before_publish: Called right before each publish attempt (fault-injection hook for tests).

    Returns:
        The published snapshot (None when every file version was already on main).

    Raises:
        AuditFailed: The audit said no; main is untouched and the branch is kept.
        PublishError: main kept moving, or the files do not fit the table.
    """
    branch = audit_branch(run_id)
    placed: dict[tuple[str, str], str] = {}
    for rebase in range(max_rebases + 1):
        table.refresh()
        base = ensure_main_snapshot(table)
        reset_branch(table, branch, base)
        result = publish_batch(
            table, staged, run_id=run_id, ingest_day=ingest_day, branch=branch, placed=placed
        )
        if result.snapshot_id is None or not result.committed:
            table.refresh()
            if branch in table.metadata.refs:
                table.manage_snapshots().remove_branch(branch).commit()
            return WapResult(None, result, branch, rebase)
        verdict = audit(table, branch, result.snapshot_id, result)
        if not verdict.passed:
            raise AuditFailed(
                f"{'.'.join(table.name())}: batch of run {run_id} held back on branch {branch!r} "
                f"(snapshot {result.snapshot_id}); main is unchanged: {verdict.reason}",
                branch,
                result.snapshot_id,
            )
        if before_publish:
            before_publish()
        if fast_forward(table, branch, base):
            return WapResult(result.snapshot_id, result, branch, rebase)
    raise PublishError(
        f"{'.'.join(table.name())}: main moved {max_rebases + 1} times during the audit of run {run_id}; "
        "retry the run"
    )


@dataclass(frozen=True)
class HeldBatch:
    """A batch held back by its audit: its branch, snapshot, run and landed file versions."""

    table: str
    branch: str
    snapshot_id: int
    run_id: str
    files: list[tuple[str, str]]


def held_batches(table: Table) -> list[HeldBatch]:
    """Every audit branch of the table with the batch it holds."""
    held = []
    for name, ref in sorted(table.metadata.refs.items()):
        if not name.startswith("audit-"):
            continue
        snapshot = table.metadata.snapshot_by_id(ref.snapshot_id)
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        files = [tuple(f) for f in json.loads(summary.get(FILES_PROPERTY, "[]"))]
        held.append(
            HeldBatch(".".join(table.name()), name, ref.snapshot_id, summary.get(RUN_PROPERTY, ""), files)
        )
    return held


def discard(table: Table, branch: str) -> None:
    """Drop a held-back batch: remove its branch (its data files become orphans for maintenance)."""
    if branch not in table.metadata.refs or not branch.startswith("audit-"):
        raise ValueError(f"{'.'.join(table.name())}: no audit branch {branch!r}; see `foundation held`")
    table.manage_snapshots().remove_branch(branch).commit()


def release(table: Table, branch: str) -> int:
    """Publish a held-back batch after review: fast-forward main, or re-apply it on a moved main.

    Returns:
        main's new snapshot id.

    Raises:
        ValueError: No such audit branch, or some of its file versions are on main already.
    """
    name = ".".join(table.name())
    batch = next((b for b in held_batches(table) if b.branch == branch), None)
    if batch is None:
        raise ValueError(f"{name}: no audit branch {branch!r}; see `foundation held`")
    on_main = set(ingested_versions(table)) & set(batch.files)
    if on_main:
        raise ValueError(
            f"{name}: {len(on_main)} file version(s) of {branch} are on main already; discard it"
        )
    head = main_head(table)
    ancestors = {
        s.snapshot_id for s in ancestors_of(table.metadata.snapshot_by_id(batch.snapshot_id), table.metadata)
    }
    if head in ancestors:
        table.manage_snapshots().set_current_snapshot(ref_name=branch).commit()
    else:
        # main moved since the audit: add the batch's data files on top of main, same identities.
        snapshot = table.metadata.snapshot_by_id(batch.snapshot_id)
        paths = [
            entry.data_file.file_path
            for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
            if entry.snapshot_id == batch.snapshot_id
        ]
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        properties = {
            FILES_PROPERTY: json.dumps([list(f) for f in batch.files]),
            VERSIONS_PROPERTY: summary.get(VERSIONS_PROPERTY, "{}"),
            RUN_PROPERTY: batch.run_id,
        }
        with table.transaction() as tx:
            tx.add_files(paths, snapshot_properties=properties, check_duplicate_files=False)
    table.refresh()
    table.manage_snapshots().remove_branch(branch).commit()
    table.refresh()
    return main_head(table)  # type: ignore[return-value]
