"""Review of held batches: read what a held batch holds, then release or discard it, audited.

The CLI (`foundation release/discard`) and the Dagster jobs (`release_held_batch`,
`discard_held_batch`) both call `release_held` and `discard_held`, so either way the same checks
run and the same `ops.audit_log` row is written.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyiceberg.table import Table

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.branches import held_because_upstream, verdict
from dagster_project.lakehouse.held import HeldBatch, discard, held_batches, release
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_safely
from dagster_project.settings import Settings

log = logging.getLogger(__name__)


class NotHeld(FoundationError):
    """No held batch of that table on that branch, or it cannot be released (its files are on main)."""


def find_held(table: Table, branch: str) -> HeldBatch | None:
    """The held batch of `table` on `branch`, if there is one."""
    return next((b for b in held_batches(table) if b.branch == branch), None)


def held_rows(table: Table, batch: HeldBatch, limit: int | None = None) -> pa.Table:
    """The rows the held batch added, read from its branch (not main's rows before it).

    Only the data files its own snapshot added are read: the branch also holds main's rows as
    they were when the audit started, which are not the batch.
    """
    snapshot = table.metadata.snapshot_by_id(batch.snapshot_id)
    if snapshot is None:
        return table.schema().as_arrow().empty_table()
    added = {
        entry.data_file.file_path
        for manifest in snapshot.manifests(table.io)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        if entry.snapshot_id == batch.snapshot_id
    }
    scan = table.scan(snapshot_id=batch.snapshot_id, limit=limit)
    tasks = [t for t in scan.plan_files() if t.file.file_path in added]
    # Imported here: pyiceberg's pyarrow IO pulls in pyarrow.dataset and pandas, which loading the
    # definitions (they import this module) does not need.
    from pyiceberg.io.pyarrow import ArrowScan

    return ArrowScan(table.metadata, table.io, scan.projection(), scan.row_filter, limit=limit).to_table(
        tasks
    )


def _table(settings: Settings, name: str) -> Table:
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    if not catalog.table_exists(name):
        raise NotHeld(f"{name}: no such table; see `foundation held` for the held batches")
    return catalog.load_table(name)


def release_held(settings: Settings, table_name: str, branch: str, *, via: str) -> int:
    """Publish a held batch to main after review and record it in `ops.audit_log`.

    Args:
        settings: Where the catalog is.
        table_name: The table, e.g. `raw.orders`.
        branch: The batch's branch, e.g. `audit-<run id>`.
        via: Who asked, for the audit row (`cli`, or the Dagster run id of the job).

    Returns:
        main's new snapshot id.

    Raises:
        NotHeld: No such held batch, or some of its files reached main since (discard it then).
    """
    table = _table(settings, table_name)
    hold = verdict(table, branch)
    try:
        snapshot_id = release(table, branch)
    except ValueError as exc:
        raise NotHeld(str(exc)) from exc
    try:
        if hold is not None:
            _record_released(settings, table, hold.snapshot_id)
    except Exception as exc:  # noqa: BLE001 - an index only: lookups read the summaries it lacks
        log.warning("%s: release of %s not in the handled-files manifest yet: %s", table_name, branch, exc)
    record_safely(
        settings,
        [
            AuditEvent(
                "publish",
                [table_name],
                {table_name: snapshot_id},
                statement=f"release of held-back batch {branch}",
                run_id=branch.removeprefix("audit-"),
                message=f"released after review (via {via})",
            )
        ],
    )
    return snapshot_id


def _record_released(settings: Settings, table: Table, held_snapshot: int) -> None:
    """The released batch's files in the handled-files manifest as published now (a raw table's; their
    rows recorded while held stay as the history of that run)."""
    from dagster_project.lakehouse.ops_tables.handled_files import record_missing
    from dagster_project.lakehouse.ops_tables.handled_rows import PUBLISHED, snapshot_rows

    catalog, dataset = _dataset_of(settings, held_snapshot)
    table.refresh()
    head = table.current_snapshot()
    if dataset is not None and head is not None:
        record_missing(catalog, dataset, table, extra=snapshot_rows(dataset, table, head, PUBLISHED, "main"))


def _record_discarded(settings: Settings, table: Table, held_snapshot: int, branch: str) -> None:
    """A discarded raw batch's file versions in the handled-files manifest: no sensor or catch-up takes
    them again (the same bytes would be held again); a new version of a file is judged afresh."""
    from dagster_project.lakehouse.ops_tables.handled_files import record_handled
    from dagster_project.lakehouse.ops_tables.handled_rows import discarded_rows

    catalog, dataset = _dataset_of(settings, held_snapshot)
    snapshot = table.metadata.snapshot_by_id(held_snapshot)
    if dataset is not None and snapshot is not None:
        record_handled(catalog, discarded_rows(dataset, table, snapshot, branch.removeprefix("audit-")))


def _dataset_of(settings: Settings, held_snapshot: int):  # noqa: ANN202 - (Catalog, str | None)
    """The catalog, and the dataset whose landed files a held batch carries, as the manifest recorded it
    when the batch was held (raw tables and raw.documents alike); None for a model's batch."""
    from dagster_project.lakehouse.ops_tables.handled_files import recorded_dataset
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    return catalog, recorded_dataset(catalog, held_snapshot)


def discard_held(settings: Settings, table_name: str, branch: str, *, via: str) -> list[str]:
    """Drop a held batch (main unchanged; its data files become orphans) and record it in `ops.audit_log`;
    with it, the model batches of the same run that read it (`held_because_upstream`).

    A model's batch built on a held upstream batch is held with `upstream not published: <tables>`
    (after its own failed tests, if any); once that upstream batch is discarded, nothing can publish
    it and its rows derive from rows that were dropped: it is dropped too (transitively), instead of
    staying held for good. The decision asked for is recorded first: a table that does not load or
    a discard that fails further down is logged and left for `foundation held`, never lost.

    Returns:
        The tables whose batch on `branch` was discarded with it.

    Raises:
        NotHeld: No such audit branch.
    """
    table = _table(settings, table_name)
    hold = verdict(table, branch)
    try:
        discard(table, branch)
    except ValueError as exc:
        raise NotHeld(str(exc)) from exc
    record_safely(settings, [_discard_event(table, branch, f"discarded after review (via {via})")])
    if hold is not None:
        try:
            _record_discarded(settings, table, hold.snapshot_id, branch)
        except Exception as exc:  # noqa: BLE001 - an index only; the discard itself is done
            log.warning("%s: discard of %s not in the handled-files manifest: %s", table_name, branch, exc)
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    waiting = _held_on(catalog, branch)
    gone, cascaded, events = {table_name}, [], []
    while dependants := [t for t, upstream in waiting.items() if upstream & gone and t not in gone]:
        for name in dependants:
            gone.add(name)  # tried once, whatever happens
            why = ", ".join(sorted(waiting[name] & gone))
            try:
                other = catalog.load_table(name)
                discard(other, branch)
            except Exception as exc:  # noqa: BLE001 - the one asked for is done; this one stays held
                log.warning("%s: %s stays held (discard it with `foundation discard`): %s", name, branch, exc)
                continue
            events.append(_discard_event(other, branch, f"discarded with {why} (via {via})"))
            cascaded.append(name)
    record_safely(settings, events)
    return cascaded


def _discard_event(table: Table, branch: str, message: str) -> AuditEvent:
    name = ".".join(table.name())
    return AuditEvent(
        "discard",
        [name],
        {name: table.current_snapshot().snapshot_id if table.current_snapshot() else None},
        statement=f"discard of held-back batch {branch}",
        run_id=branch.removeprefix("audit-"),
        message=message,
    )


def _held_on(catalog, branch: str) -> dict[str, set[str]]:  # noqa: ANN001 - a pyiceberg Catalog
    """Model table -> the upstream tables its batch on `branch` is held for (only those held for that);
    raw and ops tables read no model, and a table that does not load is skipped (logged)."""
    out: dict[str, set[str]] = {}
    for namespace in catalog.list_namespaces():
        if namespace[0] in ("raw", "ops"):
            continue
        for identifier in catalog.list_tables(namespace):
            try:
                table = catalog.load_table(identifier)
            except Exception as exc:  # noqa: BLE001 - a broken table blocks only itself (status lists it)
                log.warning("%s: not checked for a batch held on %s: %s", ".".join(identifier), branch, exc)
                continue
            if branch not in table.metadata.refs:
                continue
            hold = verdict(table, branch)
            upstream = held_because_upstream(hold.reason) if hold else set()
            if upstream:
                out[".".join(identifier)] = upstream
    return out
