"""Which quarantine records still stand: the view `foundation status` shows, computed, never deleted.

`ops.quarantine` is the audit trail: a record is never removed or rewritten. What a user needs to
see is what is still to fix, so the view sets aside records that a later commit on the raw
table's `main` has answered:

- a file version quarantined whole is resolved once that version (URI and checksum) is on main
  (a retry after a registry fix, a rebuild), or once a newer version of the same file was
  committed after it was quarantined (the file was fixed and landed again);
- rows set apart (values that do not fit their column's type) are resolved once their file
  version is on main as committed by another run than the one that set them apart: a rebuild
  re-read that file, and any row it set apart again has a record of its own, from the rebuild's
  run (`rebuild_record`: a record's id is otherwise the same for the same row, so that a rerun
  adds nothing). Rows dropped by an expectation stand as recorded: a rebuild's gate that drops
  one again writes no new record.

What is on main is read from the snapshot summaries (`publish.ingested_versions`), the same
identities exactly-once rests on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from pyiceberg.catalog import Catalog

from dagster_project.lakehouse.ops_tables.quarantine import QuarantineRecord, record_id
from dagster_project.lakehouse.publish import RUN_PROPERTY, ingested_versions
from dagster_project.lakehouse.tables import TableUnreadable, load_table

log = logging.getLogger(__name__)

INGESTED = "ingested since"
NEWER_VERSION = "a newer version of the file ingested since"
REREAD = "its file re-read since (a rebuild)"


@dataclass(frozen=True)
class _Commit:
    run_id: str | None
    at_ms: int


class QuarantineView:
    """Decides, record by record, whether an `ops.quarantine` record still stands.

    Args:
        catalog: The catalog holding the raw tables.
        tables: The identifiers of the tables that exist (a dataset without a raw table has nothing
            on main: its records stand).
    """

    def __init__(self, catalog: Catalog, tables: set[str]):
        self._catalog, self._tables = catalog, tables
        self._main: dict[str, tuple[dict[tuple[str, str], _Commit], dict[str, int]]] = {}

    def resolution(self, record: dict) -> str | None:
        """How a quarantine record (a row of `ops.quarantine`) was resolved; None while it stands."""
        committed, latest = self._on_main(record["dataset"])
        commit = committed.get((record["source_file"], record["source_checksum"]))
        if record.get("scope") == "row" or record.get("row_data") is not None:
            if record["reason"].startswith("expectation:"):
                return None
            return REREAD if commit is not None and commit.run_id != record["run_id"] else None
        if commit is not None:
            return INGESTED
        newer = latest.get(record["source_file"])
        if newer is not None and newer > _ms(record["quarantined_at"]):
            return NEWER_VERSION
        return None

    def _on_main(self, dataset: str) -> tuple[dict[tuple[str, str], _Commit], dict[str, int]]:
        """(file version → the commit on main that added it, URI → its latest such commit's time)."""
        if dataset not in self._main:
            self._main[dataset] = ({}, {})
            table_name = f"raw.{dataset}"
            if table_name in self._tables:
                try:
                    table = load_table(self._catalog, tuple(table_name.split(".")))
                except TableUnreadable as exc:  # listed as broken by the status itself
                    log.warning("%s: quarantine records shown as they stand: %s", table_name, exc)
                else:
                    committed, latest = self._main[dataset]
                    for identity, snapshot_id in ingested_versions(table).items():
                        snapshot = table.metadata.snapshot_by_id(snapshot_id)
                        summary = (
                            snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
                        )
                        at = snapshot.timestamp_ms if snapshot else 0
                        committed[identity] = _Commit(summary.get(RUN_PROPERTY), at)
                        latest[identity[0]] = max(latest.get(identity[0], 0), at)
        return self._main[dataset]


def rebuild_record(record: QuarantineRecord) -> QuarantineRecord:
    """A row set apart by a rebuild, as a record of that rebuild: its id names the run too.

    The same id for every record the rebuild's run makes of that row (a rerun of it adds nothing),
    another id than the record of the run that first set the row apart, which the rebuild
    resolved or not: the view tells them apart by run.
    """
    if record.scope != "row":
        return record
    detail = f"{record.run_id}:{record.line}:{record.column_name}:{record.row_data}"
    ident = record_id(record.source_file, record.source_checksum, "rebuild-row", record.reason, detail)
    return replace(record, record_id=ident)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
