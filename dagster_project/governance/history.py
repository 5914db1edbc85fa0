"""Time travel: a table's snapshots on main, newest first, with the run and source files behind each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.lakehouse.changes import CHECKPOINT_PROPERTY, WATERMARK_PROPERTY, data_unchanged
from dagster_project.lakehouse.publish import FILES_PROPERTY, INVOCATION_PROPERTY, RUN_PROPERTY
from dagster_project.lakehouse.wap import held_batches, main_head


@dataclass(frozen=True)
class SnapshotEntry:
    """One snapshot: when, what operation, which run, from which files or watermarks, how many rows."""

    snapshot_id: int
    committed_at: str
    operation: str
    run_id: str | None
    source_files: list[str] = field(default_factory=list)
    watermarks: dict[str, int] = field(default_factory=dict)
    dbt_invocation: str | None = None
    added_records: int | None = None
    total_records: int | None = None
    branch: str = "main"
    maintenance: str = ""  # "compaction" or "checkpoint": a commit that left the rows as they were


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def _entry(table: Table, snapshot_id: int, branch: str) -> SnapshotEntry:
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    assert snapshot is not None
    summary = snapshot.summary
    extra = summary.additional_properties if summary else {}
    return SnapshotEntry(
        snapshot_id=snapshot.snapshot_id,
        committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(timespec="seconds"),
        operation=str(summary.operation.value) if summary else "",
        run_id=extra.get(RUN_PROPERTY),
        source_files=[uri for uri, _ in json.loads(extra.get(FILES_PROPERTY, "[]"))],
        watermarks=json.loads(extra.get(WATERMARK_PROPERTY, "{}")),
        dbt_invocation=extra.get(INVOCATION_PROPERTY),
        added_records=_int(extra.get("added-records")),
        total_records=_int(extra.get("total-records")),
        branch=branch,
        maintenance="checkpoint"
        if CHECKPOINT_PROPERTY in extra
        else ("compaction" if data_unchanged(snapshot) else ""),
    )


def table_history(table: Table, limit: int | None = None) -> list[SnapshotEntry]:
    """main's snapshots newest first (at most `limit`), then the batches held on audit branches.

    Args:
        table: The Iceberg table.
        limit: How many of main's snapshots to list; all when None.

    Returns:
        One entry per snapshot; held batches carry their branch name.
    """
    head = main_head(table)
    entries: list[SnapshotEntry] = []
    if head is not None:
        for snapshot in ancestors_of(table.metadata.snapshot_by_id(head), table.metadata):
            if limit is not None and len(entries) >= limit:
                break
            entries.append(_entry(table, snapshot.snapshot_id, "main"))
    for batch in held_batches(table):
        entries.append(_entry(table, batch.snapshot_id, batch.branch))
    return entries


def format_history(name: str, entries: list[SnapshotEntry]) -> str:
    """A plain-text table of `entries` for the terminal."""
    if not entries:
        return f"{name}: no snapshots yet"
    lines = [f"{name}: snapshots on main, newest first (then held-back batches)"]
    lines.append(
        f"{'snapshot':<20}  {'committed at (UTC)':<25}  {'operation':<9}  {'run id':<36}  "
        f"{'added':>7}  {'total':>8}  source"
    )
    for e in entries:
        if e.maintenance == "checkpoint":
            source = (
                f"maintenance checkpoint: carries the identities of {len(e.source_files)} expired file(s)"
            )
        elif e.maintenance:
            source = "maintenance compaction: same rows, fewer files"
        elif e.source_files:
            source = ", ".join(uri.rsplit("/", 1)[-1] for uri in e.source_files)
        elif e.watermarks:
            source = "watermarks " + ", ".join(f"{t}@{n}" for t, n in sorted(e.watermarks.items()))
        elif e.dbt_invocation:
            source = f"dbt invocation {e.dbt_invocation}"
        else:
            source = ""
        if e.branch != "main":
            source = f"[held on {e.branch}] {source}"
        added = f"+{e.added_records:,}" if e.added_records is not None and not e.maintenance else ""
        total = f"{e.total_records:,}" if e.total_records is not None else ""
        lines.append(
            f"{e.snapshot_id:<20}  {e.committed_at:<25}  {e.operation:<9}  {e.run_id or '-':<36}  "
            f"{added:>7}  {total:>8}  {source}"
        )
    return "\n".join(lines)
