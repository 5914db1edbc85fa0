"""Held batches (audits that failed) and the recovery of audits that never finished.

"Held back" means one thing: a check failed. The batch then stays on its `audit-<run id>` branch
with the verdict recorded (`foundation.held.<branch>`), for review (`release`) or removal
(`discard`). An audit branch without a verdict belongs to an audit still in progress or to a run
that stopped (killed, crashed, machine lost) before it decided: `recover_unfinished` removes the
latter, so its files are due again and the next run ingests them, exactly once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyiceberg.table import Table

from dagster_project.lakehouse.branches import (
    OWNER_PROPERTY,
    Hold,
    audit_branches,
    branch_head,
    held_branches,
    lineage,
    main_head,
    owner_alive,
    remove_branch,
    run_of,
    stale_verdicts,
    verdict,
)
from dagster_project.lakehouse.publish import (
    FILES_PROPERTY,
    RUN_PROPERTY,
    VERSIONS_PROPERTY,
    ingested_versions,
)

log = logging.getLogger(__name__)

# How long an audit branch of a run on another machine (whose process cannot be checked) may
# go without a commit before it counts as abandoned; `Settings.unfinished_audit_grace_seconds`.
DEFAULT_GRACE_SECONDS = 3600

# Whether the run that owns an audit branch is still running (e.g. from Dagster's run status):
# True or False when known, None when the run is unknown to the caller.
RunAlive = Callable[[str], bool | None]


@dataclass(frozen=True)
class HeldBatch:
    """A batch held back by its failed audit: its branch, snapshot, run, landed files and why."""

    table: str
    branch: str
    snapshot_id: int
    run_id: str
    files: list[tuple[str, str]]
    reason: str = ""
    failed: tuple[str, ...] = ()
    decided_at: str = ""


def _files(table: Table, snapshot_id: int) -> list[tuple[str, str]]:
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    return [tuple(f) for f in json.loads(summary.get(FILES_PROPERTY, "[]"))]


def _phantom(table: Table, snapshot_id: int, on_main: set[tuple[str, str]] | None = None) -> bool:
    """A held raw batch whose landed files all reached main since (by a rerun or a release)."""
    files = _files(table, snapshot_id)
    if not files:
        return False  # model and chunk batches carry no files: only discard or release end them
    on_main = set(ingested_versions(table)) if on_main is None else on_main
    return all(f in on_main for f in files)


def held_batches(table: Table) -> list[HeldBatch]:
    """Every batch of the table held back by a failed audit (phantoms whose files are on main left out)."""
    held = []
    on_main = set(ingested_versions(table))
    for branch in held_branches(table):
        hold = verdict(table, branch)
        assert hold is not None
        if _phantom(table, hold.snapshot_id, on_main):
            continue
        snapshot = table.metadata.snapshot_by_id(hold.snapshot_id)
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        held.append(
            HeldBatch(
                ".".join(table.name()),
                branch,
                hold.snapshot_id,
                summary.get(RUN_PROPERTY, hold.run_id),
                _files(table, hold.snapshot_id),
                hold.reason,
                hold.failed,
                hold.decided_at,
            )
        )
    return held


@dataclass
class Recovery:
    """What `recover_unfinished` did to a table's audit branches."""

    table: str
    removed: dict[str, str] = field(default_factory=dict)  # branch -> why it was removed
    kept: dict[str, str] = field(default_factory=dict)  # unfinished audits left alone -> why

    def describe(self) -> list[str]:
        lines = [f"{self.table}: removed {b} ({why})" for b, why in sorted(self.removed.items())]
        lines += [f"{self.table}: left {b} alone ({why})" for b, why in sorted(self.kept.items())]
        return lines


def _unfinished_state(
    table: Table,
    branch: str,
    *,
    current_run_id: str | None,
    alive: RunAlive | None,
    grace_seconds: float,
    now_ms: int,
    on_main: set[tuple[str, str]],
) -> tuple[bool, str]:
    """Whether an audit branch without a verdict goes, and why (or why it stays)."""
    head = branch_head(table, branch)
    assert head is not None
    if head in lineage(table, main_head(table)):
        return True, "published; only the branch was left"
    run = run_of(branch)
    if run == current_run_id:
        return True, "left by an earlier attempt of this run"
    snapshot = table.metadata.snapshot_by_id(head)
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    if summary.get(RUN_PROPERTY) != run or OWNER_PROPERTY not in summary:
        # Written before verdicts were recorded: maybe a batch someone still means to release.
        # Its files are due again all the same; once they are on main it is a phantom.
        if _phantom(table, head, on_main):
            return True, "written by an older version; its files are all on main since"
        return False, "written by an older version (no verdict): `foundation release` or `discard` it"
    known = alive(run) if alive is not None else None
    if known is None:
        known = owner_alive(snapshot)
    if known is True:
        return False, "an audit still in progress"
    if known is False:
        return True, "its run stopped before the audit decided"
    age_s = (now_ms - snapshot.timestamp_ms) / 1000
    if age_s > grace_seconds:
        return True, f"no commit for {int(age_s)} s and its run cannot be checked"
    return False, "an audit still in progress, or its run stopped less than the grace period ago"


def recover_unfinished(
    table: Table,
    *,
    current_run_id: str | None = None,
    alive: RunAlive | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    logger: logging.Logger | None = None,
) -> Recovery:
    """Clean up what stopped runs left on a table's audit branches; call it before each run writes.

    An audit branch without a verdict is an audit that never finished. It is removed (its data
    files become orphans for maintenance; its landed files are due again and the run that follows
    ingests them once, as exactly-once rests on main's identities) when its run is known to have
    stopped: `alive(run)` says so, or the process that wrote it ran on this machine and is gone,
    or it is the caller's own run (an earlier attempt). A branch of a run that cannot be checked
    is removed only after `grace_seconds` without a commit. Cleaning up is chosen over resuming
    because the audit's inputs (the gate's report, the run's staged files) died with the run;
    redoing the batch from the landing zone is the ordinary path and gives the same result.

    Also removed: held batches whose files all reached main since (phantoms), branches already
    published to main, and verdicts that no longer describe a branch.

    Args:
        table: The table.
        current_run_id: The caller's run (its own leftover branch is always removed).
        alive: Tells whether a run is still running, when the caller knows (Dagster's run status).
        grace_seconds: Age after which a branch of a run that cannot be checked is abandoned.
        logger: Where to say what was removed.

    Returns:
        What was removed and what was left alone.
    """
    table.refresh()
    recovery = Recovery(".".join(table.name()))
    now_ms = int(time.time() * 1000)
    on_main = set(ingested_versions(table))
    for branch in audit_branches(table):
        hold = verdict(table, branch)
        if hold is not None:
            if _phantom(table, hold.snapshot_id, on_main):
                why = "held batch whose files are all on main since"
                remove_branch(table, branch, only_at=hold.snapshot_id)
                recovery.removed[branch] = why
            continue
        remove, why = _unfinished_state(
            table,
            branch,
            current_run_id=current_run_id,
            alive=alive,
            grace_seconds=grace_seconds,
            now_ms=now_ms,
            on_main=on_main,
        )
        if not remove:
            recovery.kept[branch] = why
            continue
        remove_branch(table, branch, only_at=branch_head(table, branch))
        recovery.removed[branch] = f"unfinished audit: {why}"
    for branch in stale_verdicts(table):
        if branch not in table.metadata.refs:
            remove_branch(table, branch)
    for line in recovery.describe():
        (logger or log).info("%s", line)
    return recovery


def _legacy_hold(table: Table, branch: str) -> Hold | None:
    """An audit branch written before verdicts were recorded (no owner either): releasable as before."""
    head = branch_head(table, branch)
    if head is None or not branch.startswith("audit-"):
        return None
    snapshot = table.metadata.snapshot_by_id(head)
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    if OWNER_PROPERTY in summary:
        return None  # a current run's unfinished audit is not a batch to release
    return Hold(branch, head, summary.get(RUN_PROPERTY, run_of(branch)), "")


def discard(table: Table, branch: str) -> None:
    """Drop a held-back batch: remove its branch and verdict (its data files become orphans)."""
    if branch not in table.metadata.refs or not branch.startswith("audit-"):
        raise ValueError(f"{'.'.join(table.name())}: no audit branch {branch!r}; see `foundation held`")
    remove_branch(table, branch)


def release(table: Table, branch: str) -> int:
    """Publish a held-back batch after review: fast-forward main, or re-apply it on a moved main.

    Returns:
        main's new snapshot id.

    Raises:
        ValueError: No such held batch, or some of its file versions are on main already.
    """
    name = ".".join(table.name())
    hold = verdict(table, branch) or _legacy_hold(table, branch)
    if hold is None:
        raise ValueError(f"{name}: no held-back batch on {branch!r}; see `foundation held`")
    files = _files(table, hold.snapshot_id)
    on_main = set(ingested_versions(table)) & set(files)
    if on_main:
        raise ValueError(
            f"{name}: {len(on_main)} file version(s) of {branch} are on main already; discard it"
        )
    head = main_head(table)
    if head in lineage(table, hold.snapshot_id):
        table.manage_snapshots().set_current_snapshot(snapshot_id=hold.snapshot_id).commit()
    else:
        # main moved since the audit: add the batch's data files on top of main, same identities.
        snapshot = table.metadata.snapshot_by_id(hold.snapshot_id)
        paths = [
            entry.data_file.file_path
            for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
            if entry.snapshot_id == hold.snapshot_id
        ]
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        properties = {
            FILES_PROPERTY: json.dumps([list(f) for f in files]),
            VERSIONS_PROPERTY: summary.get(VERSIONS_PROPERTY, "{}"),
            RUN_PROPERTY: summary.get(RUN_PROPERTY, hold.run_id),
        }
        with table.transaction() as tx:
            tx.add_files(paths, snapshot_properties=properties, check_duplicate_files=False)
    remove_branch(table, branch)
    table.refresh()
    return main_head(table)  # type: ignore[return-value]
