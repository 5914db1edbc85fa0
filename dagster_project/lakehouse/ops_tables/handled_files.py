"""The handled-files manifest `ops.handled_files`: every landed file version a table took, held or set apart.

Sensors and catch-up ask "is this landing version handled?" on every tick. The truth lives in the
snapshot summaries of each raw table (written in the same commit as the rows) and in
`ops.quarantine`; walking every summary costs more with every file ever landed. The manifest is an
index of that truth: one row per (file version, outcome), read with a filter on the dataset.

It can never be behind the truth in a way that matters. Its rows name the table (uuid) and
snapshot they copy, and a lookup keeps only rows whose snapshot is still live (an ancestor of main
since the last rebuild, or of a held branch); a live snapshot that carries file identities but has
no row yet (a crash between the data commit and the manifest append, a release, a maintenance
checkpoint, a table that predates the manifest) is read from its summary instead, and the next
writer appends its rows. Quarantine and duplicate rows are appended after `ops.quarantine`; if
that append is lost, the next run of the file skips it by its checksum and records it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from dagster_project import faults
from dagster_project.lakehouse.branches import held_branches
from dagster_project.lakehouse.ops_tables.handled_rows import (
    DISCARDED,
    HELD,
    PUBLISHED,
    QUARANTINED,
    WHY,
    quarantine_rows,
    snapshot_rows,
)
from dagster_project.lakehouse.ops_tables.quarantine import DUPLICATE, QUARANTINE_TABLE, QuarantineRecord
from dagster_project.lakehouse.publish import rebuilt_at
from dagster_project.lakehouse.tables import ensure_table
from dagster_project.registry_types import Dataset

log = logging.getLogger(__name__)

HANDLED_TABLE = "ops.handled_files"
APPEND_ATTEMPTS = 10
HANDLED_SCHEMA = Schema(
    NestedField(1, "dataset", StringType(), required=False, doc="Registry dataset the file landed for."),
    NestedField(2, "source_file", StringType(), required=False, doc="URI of the landed file."),
    NestedField(3, "landing_version", StringType(), required=False, doc="Its size-mtime or ETag."),
    NestedField(4, "source_checksum", StringType(), required=False, doc="BLAKE3 of the file version."),
    NestedField(
        5,
        "outcome",
        StringType(),
        required=False,
        doc="published, held, quarantined, duplicate or discarded.",
    ),
    NestedField(6, "table_name", StringType(), required=False, doc="The table that took it (or empty)."),
    NestedField(7, "table_uuid", StringType(), required=False, doc="That table's uuid."),
    NestedField(8, "snapshot_id", LongType(), required=False, doc="The snapshot whose summary carries it."),
    NestedField(9, "branch", StringType(), required=False, doc="main, or the audit branch holding it."),
    NestedField(10, "run_id", StringType(), required=False, doc="Dagster run that handled it."),
    NestedField(11, "duplicate_of", StringType(), required=False, doc="For a duplicate: the URI it copies."),
    NestedField(12, "recorded_at", TimestamptzType(), required=False, doc="When the row was appended."),
)
_READ = ("source_file", "landing_version", "source_checksum", "outcome", "table_uuid", "snapshot_id")
_READ += ("duplicate_of",)
# What lookups hold: plain strings (scans give large strings), so rows from both sources concatenate.
_ROWS = pa.schema([(n, pa.int64() if n == "snapshot_id" else pa.string()) for n in _READ])


@dataclass
class HandledIndex:
    """What one dataset's table and quarantine handled, from the manifest plus what it lacks.

    `rows` holds the valid rows (live snapshots of the table, quarantine and duplicate records);
    `missing` the rows the manifest lacks (read from summaries or `ops.quarantine`), which
    `record_missing` appends.
    """

    dataset: str
    rows: pa.Table
    missing: list[dict] = field(default_factory=list)
    covered: set[int] = field(default_factory=set)  # snapshots of the current table the manifest has

    def _pick(self, held: bool, quarantined: bool, duplicates: bool) -> pa.Table:
        outcomes = [PUBLISHED, DISCARDED] + [HELD] * held + [QUARANTINED] * quarantined
        outcomes += [DUPLICATE] * duplicates
        rows = self.rows.filter(pc.is_in(self.rows["outcome"], pa.array(outcomes, pa.string())))
        return rows.filter(pc.invert(pc.equal(rows["landing_version"], "")))

    def held_bytes(self, taken: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """(source URI, checksum) -> snapshot of every version held back, but for the `taken` (source
        URI, landing version) a run audits again itself."""
        rows = self.rows.filter(pc.equal(self.rows["outcome"], HELD))
        columns = ("source_file", "landing_version", "source_checksum", "snapshot_id")
        return {
            (uri, checksum): snapshot
            for uri, version, checksum, snapshot in zip(*(rows[c].to_pylist() for c in columns), strict=True)
            if (uri, version) not in taken and snapshot is not None
        }

    def versions(
        self, *, held: bool = True, quarantined: bool = True, duplicates: bool = False
    ) -> set[tuple[str, str]]:
        """(source URI, landing version) of every version handled.

        Args:
            held: Count versions held back on an audit branch (sensors and catch-up do; a run of the
                asset takes them again).
            quarantined: Count versions quarantined whole (not when a run retries them).
            duplicates: Count versions recorded as duplicates (the dataset skips duplicates).
        """
        rows = self._pick(held, quarantined, duplicates)
        return set(zip(rows["source_file"].to_pylist(), rows["landing_version"].to_pylist(), strict=True))

    def reasons(
        self,
        wanted: Iterable[tuple[str, str]],
        *,
        held: bool = True,
        quarantined: bool = True,
        duplicates: bool = False,
        name_of: Callable[[str], str] = str,
    ) -> dict[tuple[str, str], str]:
        """Of the `wanted` (source URI, landing version), those handled → why, in a skipped file's words.

        Args:
            wanted: The versions asked about (a run's listed files).
            held, quarantined, duplicates: As for `versions`.
            name_of: How a reason names the file a duplicate copies (by default its URI).
        """
        wanted = set(wanted)
        rows = self._pick(held, quarantined, duplicates)
        rows = rows.filter(
            pc.is_in(rows["source_file"], pa.array(sorted({u for u, _ in wanted}), pa.string()))
        )
        why: dict[tuple[str, str], str] = {}
        for uri, version, outcome, snapshot, original in zip(
            *(rows[n].to_pylist() for n in ("source_file", "landing_version", "outcome", "snapshot_id")),
            rows["duplicate_of"].to_pylist(),
            strict=True,
        ):
            if (uri, version) not in wanted:
                continue
            if outcome == PUBLISHED:
                why[(uri, version)] = f"already ingested (snapshot {snapshot})"
            else:
                why.setdefault((uri, version), WHY[outcome].format(original=name_of(original or "")))
        return why


def handled_table(catalog: Catalog) -> Table:
    """`ops.handled_files`, created on first use."""
    return ensure_table(catalog, HANDLED_TABLE, HANDLED_SCHEMA)


def _read_rows(catalog: Catalog, dataset: str) -> pa.Table:
    try:  # one load (`table_exists` would load the table too)
        table = catalog.load_table(HANDLED_TABLE)
    except NoSuchTableError:
        return _ROWS.empty_table()
    if table.current_snapshot() is None:
        return _ROWS.empty_table()
    rows = table.scan(row_filter=EqualTo("dataset", dataset), selected_fields=_READ).to_arrow()
    return rows.select(list(_READ)).cast(_ROWS)


def live_snapshots(table: Table) -> dict[int, tuple[str, str]]:
    """Snapshot id → (outcome, branch) of every snapshot whose files count: main's ancestry since the
    last rebuild (published), and each held branch's ancestry not on main (held).

    Parents are followed through one id → snapshot map (pyiceberg's `ancestors_of` searches the
    snapshot list once per step, quadratic in a long history).
    """
    by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
    live: dict[int, tuple[str, str]] = {}
    for name in [MAIN_BRANCH, *held_branches(table)]:
        ref = table.metadata.refs.get(name)
        snapshot = by_id.get(ref.snapshot_id) if ref else None
        outcome = PUBLISHED if name == MAIN_BRANCH else HELD
        while snapshot is not None:
            live.setdefault(snapshot.snapshot_id, (outcome, name))
            if rebuilt_at(snapshot):
                break
            snapshot = by_id.get(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    return live


def _quarantine_backfill(catalog: Catalog, dataset: str) -> list[dict]:
    """Rows of what `ops.quarantine` recorded for `dataset` before the manifest existed."""
    if not catalog.table_exists(QUARANTINE_TABLE):
        return []
    table = catalog.load_table(QUARANTINE_TABLE)
    if table.current_snapshot() is None:
        return []
    wanted = [f.name for f in table.schema().fields]
    rows = (
        table.scan(row_filter=EqualTo("dataset", dataset), selected_fields=tuple(wanted))
        .to_arrow()
        .to_pylist()
    )
    records = []
    for row in rows:
        scope = row.get("scope") or ("row" if row.get("row_data") is not None else "file")
        if scope in ("file", DUPLICATE):
            fields = {k: row.get(k) for k in QuarantineRecord.__dataclass_fields__ if k in row}
            records.append(QuarantineRecord(**{**fields, "scope": scope, "record_id": "x"}))
    return quarantine_rows(records)


def handled_index(catalog: Catalog, dataset: str, table: Table | None) -> HandledIndex:
    """What `dataset` handled: the manifest's rows, checked against the table's live snapshots.

    Args:
        catalog: The catalog.
        dataset: The registry dataset (the manifest's filter).
        table: Its raw table, or None where it does not exist yet.
    """
    rows = _read_rows(catalog, dataset)
    first_time = rows.num_rows == 0
    # Rows that name no snapshot: valid whatever the table's history.
    quarantine = rows.filter(pc.is_in(rows["outcome"], pa.array([QUARANTINED, DUPLICATE, DISCARDED])))
    missing: list[dict] = _quarantine_backfill(catalog, dataset) if first_time else []
    if table is None:
        valid = quarantine
        covered: set[int] = set()
    else:
        live = live_snapshots(table)
        ours = rows.filter(pc.equal(rows["table_uuid"], str(table.metadata.table_uuid)))
        ours = ours.filter(pc.is_in(ours["snapshot_id"], pa.array(list(live), pa.int64())))
        covered = set(pc.unique(ours["snapshot_id"]).to_pylist())
        # Where a snapshot is now (a held batch released by a fast-forward is on main).
        now = pa.array([live[i][0] for i in ours["snapshot_id"].to_pylist()], pa.string())
        ours = ours.set_column(ours.schema.get_field_index("outcome"), "outcome", now)
        by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
        for snapshot_id, (outcome, branch) in live.items():
            if snapshot_id not in covered:
                missing += snapshot_rows(dataset, table, by_id[snapshot_id], outcome, branch)
        valid = pa.concat_tables([quarantine, ours])
    if missing:
        extra = pa.Table.from_pylist([{n: r[n] for n in _READ} for r in missing], schema=_ROWS)
        valid = pa.concat_tables([valid, extra])
    return HandledIndex(dataset, valid, missing, covered)


def handled_versions(
    catalog: Catalog,
    dataset: Dataset,
    table: Table | None,
    *,
    retry_quarantined: bool = False,
    record: bool = False,
) -> set[tuple[str, str]]:
    """(source URI, landing version) of every version no run is due for: on main, held back on an audit
    branch, quarantined whole, or a recorded duplicate where the dataset skips duplicates.

    The one "what is due" rule of the landing sensors and catch-up: a listed version not in this set
    is due. Decided from the listing, so a handled version is never downloaded; a new version with
    the same bytes as a handled one is due (its run skips it by checksum).

    Args:
        catalog: The catalog.
        dataset: The registry dataset.
        table: Its raw table, or None where it does not exist yet.
        retry_quarantined: Versions quarantined whole are due again (catch-up after a registry fix).
        record: Append what the manifest lacks (catch-up indexes an older table or a crashed run's
            snapshot once; a sensor only reads).
    """
    index = handled_index(catalog, dataset.name, table)
    if record and index.missing:
        record_missing(catalog, dataset.name, table)
    # Duplicates recorded before are handled too, unless the dataset now allows them.
    return index.versions(
        held=True, quarantined=not retry_quarantined, duplicates=dataset.duplicates == "skip"
    )


def handled_since(catalog: Catalog, dataset: str, table: Table | None) -> dict[str, tuple[str, float]]:
    """Source URI -> (outcome, when) of the latest row that recorded one of its versions and still
    holds (`handled_index`: its snapshot live): the outcome as it is now (a released batch's is
    published), the time in seconds since the epoch. `foundation status` tells what became of a
    failed run's files: on main, quarantined or a duplicate; held; or nothing since.
    """
    index = handled_index(catalog, dataset, table)
    rows = index.rows
    versions = zip(rows["source_file"].to_pylist(), rows["landing_version"].to_pylist(), strict=True)
    now = dict(zip(versions, rows["outcome"].to_pylist(), strict=True))
    try:
        manifest = catalog.load_table(HANDLED_TABLE)
    except NoSuchTableError:
        return {}
    if manifest.current_snapshot() is None:
        return {}
    fields = ("source_file", "landing_version", "recorded_at")
    recorded = manifest.scan(row_filter=EqualTo("dataset", dataset), selected_fields=fields).to_arrow()
    latest: dict[str, tuple[str, float]] = {}
    for uri, version, at in zip(*(recorded[n].to_pylist() for n in fields), strict=True):
        outcome = now.get((uri, version))
        if outcome is not None and at is not None and at.timestamp() >= latest.get(uri, ("", 0.0))[1]:
            latest[uri] = (outcome, at.timestamp())
    return latest


def recorded_dataset(catalog: Catalog, snapshot_id: int) -> str | None:
    """The dataset the manifest recorded a snapshot's landed files for; None if it has no row of it."""
    try:
        manifest = catalog.load_table(HANDLED_TABLE)
    except NoSuchTableError:
        return None
    if manifest.current_snapshot() is None:
        return None
    found = manifest.scan(
        row_filter=EqualTo("snapshot_id", snapshot_id), selected_fields=("dataset",), limit=1
    ).to_arrow()
    return found["dataset"][0].as_py() if found.num_rows else None


def record_handled(catalog: Catalog, rows: list[dict]) -> int:
    """Append rows to the manifest in one commit (a row twice is harmless: lookups read sets).

    Returns:
        How many rows were appended.
    """
    if not rows:
        return 0
    table = handled_table(catalog)
    now = datetime.now(UTC)
    data = pa.Table.from_pylist([{**r, "recorded_at": now} for r in rows], schema=table.schema().as_arrow())
    faults.reached("handled.before_append")
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        try:
            table.append(data)
            return data.num_rows
        except CommitFailedException as exc:
            log.info("%s: append conflicted (attempt %d): %s", HANDLED_TABLE, attempt, exc)
            table.refresh()
    log.warning("%s: other writers kept committing; the next run records these rows", HANDLED_TABLE)
    return 0


def record_missing(catalog: Catalog, dataset: str, table: Table | None, *, extra: list[dict] = ()) -> int:
    """Append what the manifest lacks for `dataset` (the backfill of an older table, a crashed run's
    snapshot, a release) and `extra` rows; a failure here is logged, never fatal: lookups read the
    summaries of what the manifest lacks.
    """
    try:
        if table is not None:
            table.refresh()
        rows = handled_index(catalog, dataset, table).missing + list(extra)
        return record_handled(catalog, rows)
    except Exception as exc:  # noqa: BLE001 - the manifest is an index; the truth is already committed
        log.warning(
            "%s: could not record what %s handled (%s); the next run will", HANDLED_TABLE, dataset, exc
        )
        return 0
