"""Write-Audit-Publish: a batch is committed to an audit branch, audited there, and only then becomes main.

Every step boundary is a named crash point (`dagster_project.faults`); whatever the step a run
stops at, the next run of the table recovers (`lakehouse/held.py`): a batch is on main exactly
once, held back only when its audit failed, and no branch is stranded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction

from dagster_project import faults
from dagster_project.lakehouse.branches import (
    METADATA_ATTEMPTS,
    Hold,
    audit_branch,
    branch_head,
    create_branch,
    lineage,
    main_head,
    owner_properties,
    record_verdict,
    remove_branch,
    single_attempt,
)
from dagster_project.lakehouse.held import HeldBatch, discard, held_batches, recover_unfinished, release
from dagster_project.lakehouse.publish import (
    PublishError,
    PublishResult,
    StagedFile,
    moved_since,
    publish_batch,
)

log = logging.getLogger(__name__)

__all__ = [
    "AuditFailed",
    "HeldBatch",
    "Verdict",
    "WapResult",
    "audit_branch",
    "audited_publish",
    "branch_commit",
    "discard",
    "ensure_main_snapshot",
    "held_batches",
    "main_head",
    "recover_unfinished",
    "release",
    "write_audit_publish",
]


class AuditFailed(RuntimeError):
    """The audit rejected the batch: main is untouched and the audit branch is kept for inspection."""

    def __init__(self, message: str, branch: str, snapshot_id: int):
        super().__init__(message)
        self.branch = branch
        self.snapshot_id = snapshot_id


@dataclass(frozen=True)
class Verdict:
    """An audit's answer: whether the batch may be published, and why not (the failed checks)."""

    passed: bool
    reason: str = ""
    failed: tuple[str, ...] = ()


# An audit looks at the batch committed on `branch` (snapshot `snapshot_id`) and decides.
Audit = Callable[[Table, str, int, PublishResult], Verdict]


@dataclass
class WapResult:
    """What Write-Audit-Publish did: the publish (None if nothing new) and how often main moved."""

    published_snapshot_id: int | None
    publish: PublishResult
    branch: str
    rebases: int


def ensure_main_snapshot(table: Table) -> int:
    """main's head, first committing an empty snapshot to a table that has none.

    pyiceberg writes to a branch only once the table has a snapshot, and a branch needs one to
    start from; an empty first snapshot gives both without publishing any rows.
    """
    head = main_head(table)
    if head is not None:
        return head
    try:
        with single_attempt(table).transaction() as tx:
            with tx.update_snapshot(snapshot_properties={"foundation.note": "empty start"}).fast_append():
                pass
    except CommitFailedException:  # another writer made the first commit: use theirs
        pass
    table.refresh()
    head = main_head(table)
    assert head is not None
    return head


def branch_commit(table: Table, branch: str, base: int, fill: Callable[[Transaction], None]) -> int:
    """Create `branch` at `base` and commit `fill`'s changes to it, in one commit (tried once).

    A branch therefore never exists without its batch, and its head's time is when the audit
    began. Raises CommitFailedException when another writer committed meanwhile (the catalog's
    refusal, or its ValueError for a stale sequence number): the caller starts over.

    Returns:
        The branch's head.
    """
    loaded = table.metadata_location
    try:
        with single_attempt(table).transaction() as tx:
            create_branch(tx, branch, base)
            fill(tx)
    except ValueError as exc:
        if moved_since(table, loaded):
            raise CommitFailedException(f"{'.'.join(table.name())}: raced another writer: {exc}") from exc
        raise
    table.refresh()
    head = branch_head(table, branch)
    assert head is not None
    return head


def fast_forward(table: Table, branch: str, base: int, head: int) -> bool:
    """Move main from `base` to the audited `head`, then remove the branch.

    Returns:
        False when main moved since `base`, or the branch no longer descends from it (the caller
        re-applies its batch on the new main and audits again).
    """
    table.refresh()
    if branch_head(table, branch) != head or base not in lineage(table, head):
        log.warning("%s: %s changed under its audit; re-applying", ".".join(table.name()), branch)
        return False
    for _ in range(METADATA_ATTEMPTS):
        if main_head(table) != base:
            log.info("%s: main moved during the audit; re-applying on the new main", ".".join(table.name()))
            return False
        try:
            # The catalog asserts main is still `base` in this commit: a fast-forward only.
            single_attempt(table).manage_snapshots().set_current_snapshot(snapshot_id=head).commit()
            break
        except CommitFailedException:
            table.refresh()  # some commit landed: decide again whether main moved
    else:
        return False
    table.refresh()
    faults.reached("wap.published")
    try:
        remove_branch(table, branch, only_at=head)
    except CommitFailedException as exc:  # published all the same; the next run removes the branch
        log.warning("%s: published, but %s stays until the next run: %s", ".".join(table.name()), branch, exc)
    faults.reached("wap.branch_removed")
    return True


def audited_publish(
    table: Table,
    run_id: str,
    *,
    write: Callable[[str, int], int | None],
    audit: Callable[[str, int], Verdict],
    what: str,
    max_rebases: int = 3,
    before_publish: Callable[[], None] | None = None,
) -> tuple[int | None, int]:
    """The Write-Audit-Publish loop shared by raw batches, model rows and document chunks.

    Args:
        table: The target table.
        run_id: The run (branch `audit-<run id>`).
        write: Commits the batch to a new branch at a base snapshot (`branch_commit`); returns
            the branch head, or None when there is nothing new to publish.
        audit: Decides on the branch head.
        what: How messages name the batch ("batch", "rows", "chunk changes").
        max_rebases: How often main may move under the audit before giving up.
        before_publish: Called right before each publish attempt (fault-injection hook for tests).

    Returns:
        main's new snapshot (None when nothing was new) and how often main moved.

    Raises:
        AuditFailed: The audit said no; its verdict is recorded, main is untouched, the branch kept.
        PublishError: main kept moving.
    """
    name = ".".join(table.name())
    branch = audit_branch(run_id)
    for rebase in range(max_rebases + 1):
        table.refresh()
        base = ensure_main_snapshot(table)
        remove_branch(table, branch)  # an earlier attempt of this run, and its verdict
        try:
            head = write(branch, base)
        except CommitFailedException as exc:
            log.info("%s: commit to %s conflicted; starting over: %s", name, branch, exc)
            continue
        if head is None:
            return None, rebase
        faults.reached("wap.branch_committed")
        try:
            faults.reached("wap.auditing")
            verdict = audit(branch, head)
            if not verdict.passed:
                record_verdict(table, Hold(branch, head, run_id, verdict.reason, verdict.failed))
                faults.reached("wap.verdict_recorded")
                raise AuditFailed(
                    f"{name}: {what} of run {run_id} held back on branch {branch!r} (snapshot {head}); "
                    f"main is unchanged: {verdict.reason}",
                    branch,
                    head,
                )
            faults.reached("wap.audit_passed")
            if before_publish:
                before_publish()
            if fast_forward(table, branch, base, head):
                return head, rebase
        except AuditFailed:
            raise
        except Exception:
            # The run fails (and retries): leave no unfinished audit behind when it can be helped.
            with contextlib.suppress(Exception):
                remove_branch(table, branch, only_at=head)
            raise
    raise PublishError(
        f"{name}: main moved {max_rebases + 1} times during the audit of run {run_id}; retry the run"
    )


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
        AuditFailed: The audit said no; main is untouched and the branch is kept with its verdict.
        PublishError: main kept moving, or the files do not fit the table.
    """
    placed: dict[tuple[str, str], str] = {}
    results: list[PublishResult] = []

    def write(branch: str, base: int) -> int | None:
        result = publish_batch(
            table,
            staged,
            run_id=run_id,
            ingest_day=ingest_day,
            branch=branch,
            branch_base=base,
            placed=placed,
            properties=owner_properties(),
        )
        results.append(result)
        return result.snapshot_id if result.committed else None

    published, rebases = audited_publish(
        table,
        run_id,
        write=write,
        audit=lambda branch, head: audit(table, branch, head, results[-1]),
        what="batch",
        max_rebases=max_rebases,
        before_publish=before_publish,
    )
    return WapResult(published, results[-1], audit_branch(run_id), rebases)
