"""Incremental reads: the rows a table gained after a commit, where a reader stopped, what changed no rows."""

from __future__ import annotations

import json
from itertools import takewhile

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of

SEQUENCE_COLUMN = "_raw_sequence_number"
# Snapshot summary property of a consuming table: {"raw.orders": <last sequence number read>}.
WATERMARK_PROPERTY = "foundation.watermarks"
# Snapshot summary property of a foundation compaction (a `replace` commit, lakehouse/compaction.py):
# its new files keep the data sequence number of the rows they hold, so sequence numbers alone
# tell a reader whether it has read them.
COMPACTION_PROPERTY = "foundation.compaction"
# Summary property of a data-less commit on main that carries what expired snapshots carried.
CHECKPOINT_PROPERTY = "foundation.checkpoint"


def data_unchanged(snapshot: Snapshot) -> bool:
    """Whether a commit left the rows as they were (a checkpoint or a foundation compaction)."""
    summary = snapshot.summary
    if summary is None:
        return False
    if is_checkpoint(snapshot):
        return True
    return summary.operation.value == "replace" and COMPACTION_PROPERTY in summary.additional_properties


def is_checkpoint(snapshot: Snapshot) -> bool:
    """Whether a commit is a maintenance checkpoint (it carries what expired snapshots carried)."""
    return bool(snapshot.summary and CHECKPOINT_PROPERTY in snapshot.summary.additional_properties)


class NotAppendOnly(RuntimeError):
    """The table changed rows in place after the watermark, so its new rows cannot be told apart."""


def appended_since(table: Table, after_sequence: int) -> pa.Table:
    """Every row committed to main after sequence number `after_sequence`, in the current schema.

    Only manifests and data files added after the watermark are read, so the cost follows the new
    data, not the table. Each row carries the sequence number of the commit that added it
    (`_raw_sequence_number`), which is what a consumer records as its next watermark.

    Args:
        table: An append-only table (raw tables are).
        after_sequence: The last sequence number already consumed; 0 reads everything.

    Returns:
        The new rows (possibly none) with `_raw_sequence_number` appended.

    Raises:
        NotAppendOnly: A commit after the watermark (not 0) deleted or overwrote rows.
    """
    schema = table.schema()
    empty = schema.as_arrow().empty_table().append_column(SEQUENCE_COLUMN, pa.array([], pa.int64()))
    head = table.current_snapshot()
    if head is None or head.sequence_number <= after_sequence:
        return empty
    # From 0 (a first or full read) the live files are the table as it is, whatever came before.
    if after_sequence and (change := changed_in_place(table, after_sequence)) is not None:
        raise NotAppendOnly(
            f"{'.'.join(table.name())}: {change}; rebuild its consumers in full (full_refresh)"
        )
    # A compaction's files keep their rows' sequence numbers (read as usual); another `replace`'s
    # files hold rows already read.
    rewritten = {
        s.snapshot_id
        for s in takewhile(lambda s: s.sequence_number > after_sequence, ancestors_of(head, table.metadata))
        if s.summary
        and s.summary.operation.value == "replace"
        and COMPACTION_PROPERTY not in s.summary.additional_properties
    }
    by_sequence: dict[int, list[FileScanTask]] = {}
    for manifest in head.manifests(table.io):
        if manifest.sequence_number is not None and manifest.sequence_number <= after_sequence:
            continue  # written at or before the watermark: holds nothing newer
        if manifest.content == ManifestContent.DELETES:
            raise NotAppendOnly(f"{'.'.join(table.name())} has delete files; read it in full instead")
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            sequence = entry.sequence_number or 0
            if entry.snapshot_id in rewritten:
                continue
            if entry.status != ManifestEntryStatus.DELETED and sequence > after_sequence:
                by_sequence.setdefault(sequence, []).append(FileScanTask(entry.data_file))
    # Imported here: pyiceberg's pyarrow IO pulls in pyarrow.dataset and pandas, which loading the
    # definitions (they import this module for its constants) does not need.
    from pyiceberg.io.pyarrow import ArrowScan

    scan = ArrowScan(table.metadata, table.io, schema, AlwaysTrue())
    parts = [_with_sequence(scan.to_table(tasks), seq) for seq, tasks in sorted(by_sequence.items())]
    if not parts:
        return empty
    return pa.concat_tables([empty, *parts], promote_options="permissive")


def changed_in_place(table: Table, after_sequence: int) -> str | None:
    """Why rows read before `after_sequence` may have changed since (a commit that is not an append), or None.

    Appends add rows; a `replace` (a compaction, or another rewrite) only rewrites rows; a `delete`
    or an `overwrite` (e.g. the swap of `foundation rebuild`) changed rows in place, which an
    incremental reader cannot follow.
    """
    head = table.current_snapshot()
    if head is None:
        return None
    for snapshot in ancestors_of(head, table.metadata):
        if snapshot.sequence_number <= after_sequence:
            break
        operation = snapshot.summary.operation.value if snapshot.summary else "append"
        if operation not in ("append", "replace"):
            article = "an" if operation[0] in "aeiou" else "a"
            return f"commit {snapshot.snapshot_id} is {article} {operation}"
    return None


def _with_sequence(rows: pa.Table, sequence: int) -> pa.Table:
    return rows.append_column(SEQUENCE_COLUMN, pa.array([sequence] * rows.num_rows, pa.int64()))


def watermarks(table: Table | None) -> dict[str, int]:
    """What a consuming table has read of its sources, from the newest snapshot on main that says."""
    if table is None or table.current_snapshot() is None:
        return {}
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        if WATERMARK_PROPERTY in summary:
            return {k: int(v) for k, v in json.loads(summary[WATERMARK_PROPERTY]).items()}
    return {}
