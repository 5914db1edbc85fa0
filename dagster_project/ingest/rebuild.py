"""`foundation rebuild raw.NAME` and `foundation retry NAME`: the registry's fixes, applied to a raw table.

A rebuild re-ingests every landed file of a dataset (the originals stay in the landing zone)
into a new table with the registry's current types, through the same ingest as a run
(quarantine, rows set apart, the quality gate), then swaps it into `raw.NAME` in one commit
(`lakehouse/swap.py`): readers see old or new, the old snapshots stay readable with `--as-of`,
and the swap is in the audit log. A crash before the swap leaves `raw.NAME` as it was; the
half-built table is removed by the next rebuild.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from dagster_project import faults
from dagster_project.errors import FoundationError
from dagster_project.ingest.run import IngestReport, ingest_dataset
from dagster_project.lakehouse.branches import audit_branches, remove_branch
from dagster_project.lakehouse.ops_tables.audit import AuditEvent
from dagster_project.lakehouse.ops_tables.audit import record as record_audit
from dagster_project.lakehouse.swap import swap_in
from dagster_project.lakehouse.tables import ensure_raw_table, load_table, open_catalog
from dagster_project.quality.suites import Suite
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings

log = logging.getLogger(__name__)
REBUILD_NAMESPACE = "rebuild"  # where a rebuild builds its new table before the swap


class RebuildRefused(FoundationError):
    """The rebuild did not swap: the table is unchanged and the message says why."""


@dataclass
class RebuildReport:
    """What a rebuild did: the snapshots before and after, and what the re-ingest found."""

    table: str
    run_id: str
    replaced_snapshot_id: int | None = None
    snapshot_id: int | None = None
    files: int = 0
    rows: int = 0
    type_changes: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # 'file: reason' of files quarantined whole
    set_apart: int = 0  # rows whose values do not fit their types


def dataset_of(registry: Registry, table: str) -> Dataset:
    """The dataset of `raw.NAME` (or plain NAME), or a FoundationError listing the names."""
    name = table.removeprefix("raw.")
    if name not in registry.names():
        raise FoundationError(
            f"{table}: no such dataset in {registry.path} (datasets: {', '.join(registry.names())})"
        )
    return registry[name]


def _drop_leftovers(catalog: Catalog, dataset: Dataset) -> None:
    """Remove the half-built tables of rebuilds of `dataset` that stopped before their swap."""
    if not catalog.namespace_exists(REBUILD_NAMESPACE):
        return
    for identifier in catalog.list_tables(REBUILD_NAMESPACE):
        if identifier[-1].startswith(f"{dataset.name}__"):
            log.info("removing %s, left by a rebuild that stopped before its swap", ".".join(identifier))
            catalog.purge_table(identifier)


def rebuild(
    settings: Settings, dataset: Dataset, *, suite: Suite | None = None, logger: logging.Logger | None = None
) -> RebuildReport:
    """Re-ingest every landed file of `dataset` into the registry's types, then swap it into its raw table.

    Args:
        settings: Where the landing zone, warehouse and catalog are.
        dataset: The registry entry (its current types are the new table's).
        suite: The table's expectation suite: the rebuilt rows go through the gate like a run's.
        logger: Where progress goes.

    Returns:
        The report: snapshot replaced and new, files and rows, type changes, what was quarantined.

    Raises:
        RebuildRefused: No raw table yet, no file could be ingested, or the gate held the rows back;
            the raw table is unchanged.
        EnvironmentFailure: Disk, memory, catalog or store failed; the raw table is unchanged.
    """
    logger = logger or log
    catalog = open_catalog(settings)
    try:
        target = load_table(catalog, dataset.table)
    except NoSuchTableError as exc:
        raise RebuildRefused(
            f"{dataset.table} does not exist yet: nothing to rebuild (the next run creates it with the "
            "registry's types)"
        ) from exc
    run_id = f"rebuild-{uuid.uuid4().hex[:12]}"
    report = RebuildReport(dataset.table, run_id)
    _drop_leftovers(catalog, dataset)
    new = ensure_raw_table(catalog, dataset, f"{REBUILD_NAMESPACE}.{dataset.name}__{run_id.split('-')[1]}")
    logger.info("%s: re-ingesting every landed file into %s", dataset.table, ".".join(new.name()))
    # Every landed file, those quarantined before included; then once more for files landed meanwhile.
    first = ingest_dataset(
        settings, dataset, run_id=run_id, retry_quarantined=True, suite=suite, log=logger, into=new
    )
    _refuse_held(dataset, first, catalog, new)
    faults.reached("rebuild.ingested")
    late = ingest_dataset(settings, dataset, run_id=run_id, suite=suite, log=logger, into=new)
    _refuse_held(dataset, late, catalog, new)
    for part in (first, late):
        report.quarantined += [f"{q.source_file.rsplit('/', 1)[-1]}: {q.reason}" for q in part.quarantined]
        report.set_apart += len(part.rejected_rows)
        report.rows += part.rows
    if not first.ingested and not late.ingested:
        catalog.purge_table(new.name())
        raise RebuildRefused(
            f"{dataset.table}: no landed file of {dataset.prefix} could be ingested with the registry's "
            f"types ({len(report.quarantined)} quarantined; `foundation status` lists why); nothing was "
            "swapped"
        )
    swapped = swap_in(target, new, run_id=run_id)
    report.replaced_snapshot_id, report.snapshot_id = swapped.replaced_snapshot_id, swapped.snapshot_id
    report.type_changes, report.files = swapped.type_changes, swapped.files
    # Batches held back before are superseded: the rebuild gated every file again. A held branch
    # released now would bring back the old rows, so it goes.
    for branch in audit_branches(target):
        remove_branch(target, branch)
    event = AuditEvent(
        "rebuild",
        [dataset.table],
        {dataset.table: swapped.snapshot_id},
        statement=f"rebuild of {dataset.table} from {swapped.files} landed file version(s) in the registry's "
        f"types ({'; '.join(swapped.type_changes) or 'no type change'}); replaced snapshot "
        f"{swapped.replaced_snapshot_id}",
        run_id=run_id,
        rows=report.rows,
        message=f"the old rows stay readable with --as-of {swapped.replaced_snapshot_id}",
    )
    record_audit(catalog, settings, [event])
    try:
        catalog.purge_table(new.name())
    except Exception as exc:  # noqa: BLE001 - the swap is done; a leftover goes with the next rebuild
        logger.warning("could not remove %s: %s", ".".join(new.name()), exc)
    return report


def _refuse_held(dataset: Dataset, part: IngestReport, catalog: Catalog, new) -> None:  # noqa: ANN001
    if part.held_back:
        failed = part.gate.failed if part.gate else []
        catalog.purge_table(new.name())
        raise RebuildRefused(
            f"{dataset.table}: the quality gate held the rebuilt rows back "
            f"({', '.join(r.expectation.name for r in failed) or 'see the suite'}); nothing was swapped. "
            "Fix the data or the suite, then rebuild again"
        )
