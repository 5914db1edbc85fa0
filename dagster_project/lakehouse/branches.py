"""Audit branches and their records: who owns one, whether its audit failed, and safe metadata commits.

An `audit-<run id>` branch is either a held batch (its audit failed: the verdict is recorded in
the table property `foundation.held.<branch>`) or an unfinished audit (a run is still auditing,
or stopped before it decided). Only the first is "held back"; `lakehouse/held.py` recovers the
second.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.table.update.snapshot import ManageSnapshots

log = logging.getLogger(__name__)

AUDIT_PREFIX = "audit-"
# The verdict of a failed audit, one table property per held branch (JSON, see `Hold`).
HELD_PREFIX = "foundation.held."
# A model's batch held because a batch it read was held: its verdict's reason names those tables
# (`transform/build.py` writes it, `lakehouse/review.py` discards it with them).
UPSTREAM_NOT_PUBLISHED = "upstream not published: "
# Which process wrote a commit on an audit branch (JSON: host, pid, process start), so that a
# later run can tell a crashed audit from one still in progress on the same machine.
OWNER_PROPERTY = "foundation.owner"
RETRIES_PROPERTY = "commit.retry.num-retries"
METADATA_ATTEMPTS = 8


def audit_branch(run_id: str) -> str:
    """The audit branch of a run (named after it, so a held-back batch is easy to find)."""
    return f"{AUDIT_PREFIX}{run_id}"


def run_of(branch: str) -> str:
    """The run id in an audit branch's name."""
    return branch.removeprefix(AUDIT_PREFIX)


def audit_branches(table: Table) -> list[str]:
    return sorted(name for name in table.metadata.refs if name.startswith(AUDIT_PREFIX))


def main_head(table: Table) -> int | None:
    ref = table.metadata.refs.get(MAIN_BRANCH)
    return ref.snapshot_id if ref else None


def branch_head(table: Table, branch: str) -> int | None:
    ref = table.metadata.refs.get(branch)
    return ref.snapshot_id if ref else None


def lineage(table: Table, snapshot_id: int | None) -> set[int]:
    """The snapshot and its ancestors."""
    if snapshot_id is None:
        return set()
    return {s.snapshot_id for s in ancestors_of(table.metadata.snapshot_by_id(snapshot_id), table.metadata)}


def single_attempt(table: Table) -> Table:
    """The same table, but its commits are tried once.

    pyiceberg retries a conflicting append by re-applying it on top of the concurrent commit,
    which is wrong for a commit whose content was decided from what was committed before (the
    identity check of exactly-once, an idempotent append, a branch created in the same commit).
    The retry count is read from the table's properties at commit time, so this copy overrides
    it for its own commits only; the catalog never sees the override.
    """
    properties = {**table.metadata.properties, RETRIES_PROPERTY: "0"}
    metadata = table.metadata.model_copy(update={"properties": properties})
    return Table(table.name(), metadata, table.metadata_location, table.io, table.catalog, table.config)


def commit_metadata(table: Table, change: Callable[[Transaction], bool | None], what: str) -> None:
    """Commit a metadata-only change (refs, properties), re-deciding it on a concurrent commit.

    The SQL catalog refuses a commit when any other commit of the table landed since it was
    loaded, even one that does not touch the same refs; so `change` is called again on fresh
    metadata after each refusal. `change` returns False when there is nothing (left) to do.
    """
    for attempt in range(1, METADATA_ATTEMPTS + 1):
        table.refresh()
        tx = single_attempt(table).transaction()
        if change(tx) is False:
            return
        try:
            tx.commit_transaction()
            table.refresh()
            return
        except CommitFailedException as exc:
            log.info("%s: %s conflicted (attempt %d): %s", ".".join(table.name()), what, attempt, exc)
    raise CommitFailedException(
        f"{'.'.join(table.name())}: {what} kept conflicting with other commits; retry the run"
    )


def remove_branch(table: Table, branch: str, *, only_at: int | None = None) -> None:
    """Remove an audit branch and its verdict in one commit (nothing happens if both are gone).

    Args:
        table: The table.
        branch: The branch name.
        only_at: Remove the branch only while its head is still this snapshot (the catalog asserts
            it), so that a branch a live run has just committed to again is left alone.
    """

    def change(tx: Transaction) -> bool:
        ref = tx.table_metadata.refs.get(branch)
        remove = ref is not None and (only_at is None or ref.snapshot_id == only_at)
        if remove:
            # One branch per commit: pyiceberg keeps one ref assertion per transaction.
            ManageSnapshots(tx).remove_branch(branch).commit()
        if HELD_PREFIX + branch in tx.table_metadata.properties and (remove or ref is None):
            tx.remove_properties(HELD_PREFIX + branch)
            return True
        return remove

    commit_metadata(table, change, f"removing branch {branch}")


def create_branch(tx: Transaction, branch: str, base: int) -> None:
    """Stage `branch` at `base` in a transaction, so that it appears with the transaction's commit."""
    manage = ManageSnapshots(tx)
    manage.create_branch(base, branch)
    manage.commit()


@dataclass(frozen=True)
class Hold:
    """The recorded verdict of a failed audit: the batch on `branch` is held back."""

    branch: str
    snapshot_id: int
    run_id: str
    reason: str
    failed: tuple[str, ...] = ()
    decided_at: str = ""


def record_verdict(table: Table, hold: Hold) -> None:
    """Record that the audit of `hold.branch` failed (its own commit, right after the audit)."""
    value = json.dumps(
        {
            "snapshot_id": hold.snapshot_id,
            "run_id": hold.run_id,
            "reason": hold.reason,
            "failed": list(hold.failed),
            "decided_at": hold.decided_at or datetime.now(UTC).isoformat(),
        },
        sort_keys=True,
    )

    def change(tx: Transaction) -> None:
        tx.set_properties(**{HELD_PREFIX + hold.branch: value})

    commit_metadata(table, change, f"recording the verdict on {hold.branch}")


def verdict(table: Table, branch: str) -> Hold | None:
    """The failed audit recorded for `branch`, if it still describes the branch's head."""
    raw = table.metadata.properties.get(HELD_PREFIX + branch)
    head = branch_head(table, branch)
    if raw is None or head is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if data.get("snapshot_id") != head:
        return None  # the branch was rebuilt since: the verdict is about another batch
    return Hold(
        branch,
        head,
        str(data.get("run_id", run_of(branch))),
        str(data.get("reason", "")),
        tuple(data.get("failed", ())),
        str(data.get("decided_at", "")),
    )


def held_because_upstream(reason: str) -> set[str]:
    """The tables a hold's reason says were not published (`upstream not published: a, b`), if any."""
    for part in reason.split("; "):
        if part.startswith(UPSTREAM_NOT_PUBLISHED):
            return {t.strip() for t in part.removeprefix(UPSTREAM_NOT_PUBLISHED).split(",") if t.strip()}
    return set()


def held_branches(table: Table) -> list[str]:
    """Audit branches whose audit failed (a recorded verdict): the only batches held back."""
    return [b for b in audit_branches(table) if verdict(table, b) is not None]


def stale_verdicts(table: Table) -> list[str]:
    """Branches named by verdict properties that no longer describe a branch head."""
    named = [k.removeprefix(HELD_PREFIX) for k in table.metadata.properties if k.startswith(HELD_PREFIX)]
    return [b for b in named if verdict(table, b) is None]


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, from /proc), to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # a zombie or dead process is not running
        return "dead"
    return fields[19]


def owner_properties() -> dict[str, str]:
    """Snapshot summary properties naming this process as the owner of an audit branch commit."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}
    return {OWNER_PROPERTY: json.dumps(owner, sort_keys=True)}


def owner_alive(snapshot: Snapshot | None) -> bool | None:
    """Whether the process that made `snapshot` still runs: None when it ran on another machine."""
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    try:
        owner = json.loads(summary[OWNER_PROPERTY])
        pid = int(owner["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if owner.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists (another user's)
    start = _process_start(pid)
    if start == "dead":
        return False
    return start is None or owner.get("start") in (None, start)
