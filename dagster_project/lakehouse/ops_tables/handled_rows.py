"""Rows of the handled-files manifest `ops.handled_files` (`handled_files.py` reads and appends them):
what became of a landed file version, from a snapshot's summary, a quarantine record, a skip of bytes
handled before, or a discard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot

from dagster_project.lakehouse.ops_tables.quarantine import DUPLICATE, QuarantineRecord
from dagster_project.lakehouse.publish import FILES_PROPERTY, RUN_PROPERTY, VERSIONS_PROPERTY

PUBLISHED, HELD, QUARANTINED = "published", "held", "quarantined"  # and DUPLICATE ('duplicate')
# A held raw batch discarded after review: its versions are not taken again until the file changes.
DISCARDED = "discarded"

# A skipped version's reason, by outcome (a published one names its snapshot).
WHY = {
    HELD: "held back by a failed audit",
    QUARANTINED: "already quarantined",
    DUPLICATE: "already recorded as a duplicate of {original}",
    DISCARDED: "discarded after review (`foundation discard`); a new version of the file is taken",
}


def snapshot_rows(dataset: str, table: Table, snapshot: Snapshot, outcome: str, branch: str) -> list[dict]:
    """The manifest rows of one snapshot, from its summary (none if it carries no landed files)."""
    extra = snapshot.summary.additional_properties if snapshot.summary else {}
    if FILES_PROPERTY not in extra:
        return []
    versions = json.loads(extra.get(VERSIONS_PROPERTY, "{}"))
    base = {
        "dataset": dataset,
        "outcome": outcome,
        "table_name": ".".join(table.name()),
        "table_uuid": str(table.metadata.table_uuid),
        "snapshot_id": snapshot.snapshot_id,
        "branch": branch,
        "run_id": extra.get(RUN_PROPERTY, ""),
        "duplicate_of": None,
    }
    return [
        {**base, "source_file": uri, "source_checksum": checksum, "landing_version": versions.get(uri, "")}
        for uri, checksum in json.loads(extra[FILES_PROPERTY])
    ]


@dataclass(frozen=True)
class HandledAs:
    """How a file's bytes were handled: the outcome, the snapshot that took them (published), the file
    a duplicate copies. A new landing version of the same bytes (a touched file, a copy that kept the
    bytes but not the modified time) is recorded as handled the same way."""

    outcome: str
    snapshot_id: int | None = None
    duplicate_of: str | None = None

    def why(self) -> str:
        """A skipped file's reason, as the lookups give it."""
        if self.outcome == PUBLISHED:
            return f"already ingested (snapshot {self.snapshot_id})"
        if self.outcome == HELD:
            return f"the same bytes are held back (snapshot {self.snapshot_id}); `foundation held` to decide"
        return WHY[self.outcome].format(original=self.duplicate_of or "")


def again_rows(
    dataset: str, table: Table, versions: Iterable[tuple[str, str, str, HandledAs]], run_id: str
) -> list[dict]:
    """Manifest rows for new landing versions (URI, version, checksum) of bytes handled before, so that
    no sensor or catch-up requests them (and downloads them) again.

    A published or held one names the snapshot that took the bytes: it stays handled exactly as long
    as that snapshot is live (and counts as published once a held one is released), as the version
    that snapshot committed does.
    """
    rows = []
    for uri, version, checksum, handled in versions:
        published = handled.snapshot_id is not None
        rows.append(
            {
                "dataset": dataset,
                "source_file": uri,
                "landing_version": version,
                "source_checksum": checksum,
                "outcome": handled.outcome,
                "table_name": ".".join(table.name()) if published else "",
                "table_uuid": str(table.metadata.table_uuid) if published else "",
                "snapshot_id": handled.snapshot_id if published else None,
                "branch": MAIN_BRANCH if handled.outcome == PUBLISHED else "",
                "run_id": run_id,
                "duplicate_of": handled.duplicate_of,
            }
        )
    return rows


def discarded_rows(dataset: str, table: Table, snapshot: Snapshot, run_id: str) -> list[dict]:
    """Manifest rows of a held batch discarded after review: its file versions, which no sensor or
    catch-up takes again (a new version of the file is judged afresh)."""
    rows = snapshot_rows(dataset, table, snapshot, DISCARDED, "")
    return [{**r, "table_uuid": "", "snapshot_id": None, "run_id": run_id} for r in rows]


def quarantine_rows(records: Iterable[QuarantineRecord]) -> list[dict]:
    """Manifest rows of quarantine records of whole files and duplicates (row-level records do not count)."""
    rows = []
    for r in records:
        if r.scope not in ("file", DUPLICATE):
            continue
        rows.append(
            {
                "dataset": r.dataset,
                "source_file": r.source_file,
                "landing_version": r.landing_version or "",
                "source_checksum": r.source_checksum,
                "outcome": QUARANTINED if r.scope == "file" else DUPLICATE,
                "table_name": "",
                "table_uuid": "",
                "snapshot_id": None,
                "branch": "",
                "run_id": r.run_id,
                "duplicate_of": r.duplicate_of,
            }
        )
    return rows
