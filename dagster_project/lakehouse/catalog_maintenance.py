"""Maintenance over a whole catalog: one operation on every table (or some), one report per table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pyiceberg.catalog import Catalog

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.catalog import TableUnreadable, load_table, open_catalog
from dagster_project.lakehouse.compaction import compact, incremental_sources, read_horizon
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_safely
from dagster_project.lakehouse.table_maintenance import (
    MaintenanceConflict,
    MaintenanceReport,
    OrphanRemovalRefused,
    TableStats,
    expire_snapshots,
    remove_orphan_files,
    table_stats,
)
from dagster_project.lakehouse.warehouse import warehouse_tables
from dagster_project.settings import Settings

OPERATIONS = ("compact", "expire_snapshots", "remove_orphan_files")


class UnknownTable(FoundationError, ValueError):
    """A table asked for is not in the catalog."""


def catalog_tables(catalog: Catalog) -> list[str]:
    """Every table of the catalog as `namespace.table`, sorted."""
    return sorted(
        ".".join(identifier)
        for namespace in catalog.list_namespaces()
        for identifier in catalog.list_tables(namespace)
    )


def run_maintenance(
    settings: Settings,
    operation: str,
    *,
    tables: Sequence[str] = (),
    dry_run: bool = False,
    manifest: Mapping[str, Any] | None = None,
    log: Any = None,
    run_id: str | None = None,
) -> list[MaintenanceReport]:
    """Run one maintenance operation on every table of the catalog, or on `tables`.

    A table that fails (or does not load, or conflicts with a concurrent writer) is reported with
    a note and the others still run.

    Args:
        settings: The deployment (catalog and maintenance settings).
        operation: One of `OPERATIONS`.
        tables: `namespace.table` names; empty means every table.
        dry_run: Report what would change without changing anything.
        run_id: The Dagster run, for the audit log (every table the run changed or failed on).
        manifest: The dbt manifest, to find incremental consumers of raw tables (compaction).
        log: Where progress goes (a Dagster or `logging` logger).

    Returns:
        One report per table.

    Raises:
        UnknownTable: A name in `tables` is not in the catalog.
        OrphanRemovalRefused: (remove_orphan_files) The warehouse holds committed tables the catalog
            does not list; nothing was deleted. Per table, the same refusal is a failed report.
    """
    log = log or logging.getLogger(__name__)
    if operation not in OPERATIONS:
        raise ValueError(f"unknown maintenance operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    catalog = open_catalog(settings)
    names = catalog_tables(catalog)
    missing = sorted(set(tables) - set(names))
    if missing:
        raise UnknownTable(f"not in the catalog: {', '.join(missing)}; see `foundation status` for the names")
    names = [n for n in names if not tables or n in tables]
    if operation == "remove_orphan_files":
        refuse_unknown_table_folders(settings, catalog)
    consumers = incremental_sources(catalog, manifest) if operation == "compact" else {}
    reports = []
    for index, name in enumerate(names, start=1):
        try:
            table = load_table(catalog, name)
        except TableUnreadable as exc:  # skipped and reported: the other tables are maintained
            none = TableStats(0, 0, 0)
            notes = [f"failed: {exc}"]
            reports.append(MaintenanceReport(name, operation, none, none, dry_run=dry_run, notes=notes))
            log.warning(f"{operation} {index}/{len(names)} {name}: skipped: {exc}")
            continue
        try:
            if operation == "compact":
                horizon = read_horizon(catalog, name, consumers[name]) if name in consumers else None
                report = compact(
                    table,
                    target_file_bytes=settings.compaction_target_file_bytes,
                    min_files=settings.compaction_min_files,
                    max_sequence=horizon,
                    dry_run=dry_run,
                )
                if horizon is not None:
                    report.notes.append(f"read incrementally: files up to sequence number {horizon} only")
            elif operation == "expire_snapshots":
                report = expire_snapshots(
                    table,
                    older_than=timedelta(days=settings.maintenance_retention_days),
                    keep_last=settings.maintenance_keep_last,
                    dry_run=dry_run,
                )
            else:
                report = remove_orphan_files(
                    table,
                    older_than=timedelta(hours=settings.maintenance_orphan_grace_hours),
                    dry_run=dry_run,
                )
        except MaintenanceConflict as exc:
            stats = table_stats(table)
            report = MaintenanceReport(name, operation, stats, stats, dry_run=dry_run, notes=[str(exc)])
        except Exception as exc:  # noqa: BLE001 - one broken table must not stop the others
            stats = TableStats(len(table.metadata.snapshots), 0, 0)
            report = MaintenanceReport(
                name, operation, stats, stats, dry_run=dry_run, notes=[f"failed: {exc}"]
            )
        log.info(
            f"{operation} {index}/{len(names)} {name}: snapshots {report.before.snapshots}→"
            f"{report.after.snapshots}, data files {report.before.data_files}→{report.after.data_files}, "
            f"removed {report.files_removed} file(s) {report.bytes_removed} bytes"
            + (f" ({'; '.join(report.notes)})" if report.notes else "")
        )
        reports.append(report)
    if not dry_run:
        record_safely(settings, audit_events(operation, reports, catalog, run_id), catalog)
    return reports


def refuse_unknown_table_folders(settings: Settings, catalog: Catalog) -> None:
    """Refuse orphan removal when the warehouse holds committed tables this catalog does not know.

    Table folders with committed metadata that no catalog table has are what a new catalog beside
    old data looks like; deleting "orphans" then would delete the old tables' data and audit trail.

    Raises:
        OrphanRemovalRefused: Such folders exist; nothing was deleted.
    """
    props = settings.resolved_catalog_properties()
    warehouse = props.get("warehouse", "")
    if not warehouse:
        return
    known = set(catalog_tables(catalog))
    unknown = [t for t in warehouse_tables(props, warehouse) if t.has_commits and t.identifier not in known]
    if unknown:
        names = ", ".join(f"{t.identifier} ({t.location})" for t in unknown[:5])
        raise OrphanRemovalRefused(
            f"refusing to remove orphan files: the warehouse holds {len(unknown)} table(s) with committed "
            f"metadata that the catalog does not list: {names}{', ...' if len(unknown) > 5 else ''}. That "
            "is what a new catalog beside old data looks like. Nothing was deleted. Run `foundation catalog "
            "check`, then `foundation catalog recover` to register them; move folders of tables that are "
            "really unwanted out of the warehouse"
        )


def changed(report: MaintenanceReport) -> bool:
    """Whether an operation committed to the table or deleted files."""
    return bool(report.files_removed or report.files_added or report.snapshots_expired) or (
        report.before.snapshots != report.after.snapshots
    )


def audit_events(
    operation: str, reports: Sequence[MaintenanceReport], catalog: Catalog, run_id: str | None
) -> list[AuditEvent]:
    """One `maintenance` audit event per table the operation changed or failed on."""
    events = []
    for report in reports:
        broken = any(n.startswith("failed:") for n in report.notes)
        if not (changed(report) or broken):
            continue
        snapshot = None if broken else catalog.load_table(report.table).current_snapshot()
        events.append(
            AuditEvent(
                "maintenance",
                [report.table],
                {report.table: snapshot.snapshot_id if snapshot else None},
                statement=f"{operation}: snapshots {report.before.snapshots}→{report.after.snapshots}, "
                f"data files {report.before.data_files}→{report.after.data_files}, "
                f"{report.files_removed} file(s) removed ({report.bytes_removed} bytes)",
                run_id=run_id,
                outcome="error" if broken else "ok",
                message="; ".join(report.notes),
            )
        )
    return events


def failed(reports: Sequence[MaintenanceReport]) -> list[MaintenanceReport]:
    """Reports of tables whose operation raised an error (conflicts are retried by the next run)."""
    return [r for r in reports if any(n.startswith("failed:") for n in r.notes)]
