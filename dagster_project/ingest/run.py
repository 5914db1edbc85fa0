"""Ingests landed files of one dataset into its raw Iceberg table: convert, quarantine, publish once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from dagster_project import faults
from dagster_project.governance.audit import AuditEvent, record_missing_publishes
from dagster_project.governance.audit import record as record_audit
from dagster_project.ingest.convert import FileRejected, connect, convert_file
from dagster_project.lakehouse.ops import QuarantineRecord, quarantined_versions, record_quarantine
from dagster_project.lakehouse.publish import StagedFile, ingested_versions, publish_batch
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, ensure_raw_table, open_catalog, type_name_of
from dagster_project.lakehouse.wap import AuditFailed, recover_unfinished, write_audit_publish
from dagster_project.landing.store import LandedFile, open_landing, open_quarantine
from dagster_project.quality.gate import GateReport, gate_batch, suite_parameters, table_audit
from dagster_project.quality.suites import Suite
from dagster_project.registry import Dataset
from dagster_project.settings import Settings

LINEAGE_NAMES = {name for name, _, _ in LINEAGE_FIELDS}


@dataclass
class IngestReport:
    """What one ingest run did to one dataset."""

    dataset: str
    table: str
    table_location: str
    snapshot_id: int | None
    ingested: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    new_columns: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    gate: GateReport | None = None
    held_back: list[dict] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def rows(self) -> int:
        return sum(f["rows"] for f in self.ingested)

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.ingested)


def pending_files(settings: Settings, dataset: Dataset) -> list[LandedFile]:
    """Every file of the dataset in the landing zone, oldest first."""
    landing = open_landing(settings)
    return sorted(f for f in landing.list(dataset.prefix) if dataset.matches(f.key))


def _quarantine(
    settings: Settings,
    dataset: Dataset,
    file: LandedFile,
    path: Path,
    checksum: str,
    rejected: FileRejected,
    run_id: str,
) -> QuarantineRecord:
    now = datetime.now(UTC)
    key = f"{dataset.name}/{checksum[:12]}-{file.name}"
    sidecar = {
        "dataset": dataset.name,
        "source_file": file.uri,
        "landing_key": file.key,
        "source_checksum": checksum,
        "reason": rejected.reason,
        "message": rejected.message,
        "line": rejected.line,
        "column": rejected.column,
        "run_id": run_id,
        "quarantined_at": now.isoformat(),
    }
    copy_uri = open_quarantine(settings).put(key, path, json.dumps(sidecar, indent=2))
    return QuarantineRecord(
        quarantined_at=now,
        dataset=dataset.name,
        source_file=file.uri,
        source_checksum=checksum,
        quarantine_file=copy_uri,
        reason=rejected.reason,
        message=rejected.message,
        line=rejected.line,
        column_name=rejected.column,
        run_id=run_id,
        landing_version=file.version,
    )


def _already_handled(
    identity: tuple[str, str],
    done: dict[tuple[str, str], int],
    quarantined: set[tuple[str, str]],
    staged: dict[tuple[str, str], LandedFile],
) -> str | None:
    """Why a file version needs no work, or None if it does."""
    if identity in done:
        return f"already ingested (snapshot {done[identity]})"
    if identity in quarantined:
        return "already quarantined"
    if identity in staged:
        return f"same bytes as {staged[identity].key} in this run"
    return None


def ingest_dataset(
    settings: Settings,
    dataset: Dataset,
    *,
    run_id: str,
    keys: Sequence[str] | None = None,
    retry_quarantined: bool = False,
    suite: Suite | None = None,
    log: logging.Logger | None = None,
    before_commit: Callable[[], None] | None = None,
) -> IngestReport:
    """Ingest landed files of one dataset into `raw.<dataset>` in one atomic commit.

    Args:
        settings: Where the landing zone, warehouse and catalog are.
        dataset: The registry entry.
        run_id: Dagster run id (lineage column and snapshot summary).
        keys: Landing keys to ingest; all files under the dataset's prefix when None.
        retry_quarantined: Try again file versions that were quarantined before.
        suite: The table's expectation suite: the batch then goes through Write-Audit-Publish.
        log: Where progress goes.
        before_commit: Fault-injection hook, called right before the commit.

    Returns:
        The report: files ingested, skipped and quarantined, rows, snapshot id.
    """
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    catalog = open_catalog(settings)
    table = ensure_raw_table(catalog, dataset)
    recover_unfinished(
        table, current_run_id=run_id, grace_seconds=settings.unfinished_audit_grace_seconds, logger=log
    )
    record_missing_publishes(catalog, settings, table)
    landing = open_landing(settings)
    report = IngestReport(dataset.name, dataset.table, table.location(), None)

    files: list[LandedFile] = []
    if keys is None:
        files = pending_files(settings, dataset)
    else:
        for key in keys:
            try:
                files.append(landing.stat(key))
            except FileNotFoundError:
                log.warning("%s: no longer in the landing zone; skipped", key)
                report.skipped.append({"file": key, "why": "no longer in the landing zone"})
    done = ingested_versions(table)
    quarantined = set() if retry_quarantined else quarantined_versions(catalog, dataset.name)

    ingested_at = report.started_at
    lineage_base = {"_ingested_at": ingested_at.isoformat(), "_run_id": run_id}
    table_columns = {
        f.name: type_name_of(f.field_type) for f in table.schema().fields if f.name not in LINEAGE_NAMES
    }
    scratch = settings.work_dir / run_id
    con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
    staged: list[StagedFile] = []
    keys_by_identity: dict[tuple[str, str], LandedFile] = {}
    converting = time.perf_counter()
    report.seconds["prepare"] = converting - started
    try:
        log.info("%s: %d file(s) to consider", dataset.table, len(files))
        for index, file in enumerate(files, start=1):
            try:
                with landing.fetch(file, scratch) as (path, checksum):
                    identity = (file.uri, checksum)
                    why = _already_handled(identity, done, quarantined, keys_by_identity)
                    if why:
                        report.skipped.append({"file": file.key, "why": why})
                        continue
                    try:
                        converted = convert_file(
                            con,
                            dataset,
                            path,
                            source_label=file.key,
                            table_columns=table_columns,
                            lineage={**lineage_base, "_source_file": file.uri, "_source_checksum": checksum},
                            out_path=scratch / f"{index:05d}.parquet",
                        )
                    except FileRejected as rejected:
                        log.warning("quarantined %s: %s", file.key, rejected.message)
                        report.quarantined.append(
                            _quarantine(settings, dataset, file, path, checksum, rejected, run_id)
                        )
                        continue
            except FileNotFoundError:
                log.warning("%s: removed from the landing zone before it was read; skipped", file.key)
                report.skipped.append({"file": file.key, "why": "no longer in the landing zone"})
                continue
            table_columns.update(converted.new_columns)
            if converted.new_columns:
                log.info("%s: schema drift, new column(s) %s", file.key, converted.new_columns)
            staged.append(
                StagedFile(
                    file.uri,
                    checksum,
                    converted.path,
                    converted.rows,
                    file.size,
                    converted.new_columns,
                    version=file.version,
                )
            )
            keys_by_identity[identity] = file
            log.info("[%d/%d] %s: %d rows staged", index, len(files), file.key, converted.rows)
        committing = time.perf_counter()
        report.seconds["convert"] = committing - converting
        faults.reached("ingest.staged")
        if staged:
            _publish(
                catalog,
                table,
                con,
                staged,
                dataset,
                report,
                keys_by_identity,
                settings=settings,
                suite=suite,
                run_id=run_id,
                ingested_at=ingested_at,
                before_commit=before_commit,
                log=log,
            )
    finally:
        con.close()
    report.seconds["commit"] = time.perf_counter() - committing
    if not staged:  # otherwise _publish recorded it, before the commit
        record_quarantine(catalog, report.quarantined)
    if scratch.exists():
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
    return report


def _publish(
    catalog: Catalog,
    table: Table,
    con: duckdb.DuckDBPyConnection,
    staged: list[StagedFile],
    dataset: Dataset,
    report: IngestReport,
    keys_by_identity: dict[tuple[str, str], LandedFile],
    *,
    settings: Settings,
    suite: Suite | None,
    run_id: str,
    ingested_at: datetime,
    before_commit: Callable[[], None] | None,
    log: logging.Logger,
) -> None:
    """Commit the staged batch: straight to main, or through the suite's gate (Write-Audit-Publish)."""
    day = ingested_at.date().isoformat()
    if suite is None:
        record_quarantine(catalog, report.quarantined)
        result = publish_batch(table, staged, run_id=run_id, ingest_day=day, before_commit=before_commit)
    else:
        pii = set(dataset.pii_columns)
        parameters = suite_parameters(ingested_at, dataset.freshness_max_age_hours)
        report.gate = gate = GateReport(suite)
        staged = gate_batch(
            con,
            suite,
            staged,
            dataset=dataset.name,
            run_id=run_id,
            parameters=parameters,
            pii_columns=pii,
            report=gate,
        )
        # Before the commit: a run stopped after it leaves nothing unrecorded (reruns add nothing).
        record_quarantine(catalog, report.quarantined + gate.dropped)
        audit = table_audit(catalog, con, suite, gate, run_id=run_id, parameters=parameters, pii_columns=pii)
        try:
            wap = write_audit_publish(table, staged, run_id=run_id, ingest_day=day, audit=audit)
        except AuditFailed as failed:
            gate.held_back = True
            log.warning("%s", failed)
            report.held_back = [{"file": keys_by_identity[s.identity].key, "rows": s.rows} for s in staged]
            return
        result = wap.publish
        gate.branch = None  # published: the audit branch is gone
    report.snapshot_id = result.snapshot_id
    for s in result.committed:
        key = keys_by_identity[s.identity].key
        report.ingested.append({"file": key, "rows": s.rows, "bytes": s.size, "checksum": s.checksum})
        report.new_columns.update(s.new_columns)
    for s in result.already_ingested:
        report.skipped.append(
            {"file": keys_by_identity[s.identity].key, "why": "committed by a concurrent run"}
        )
    if result.committed:
        files = [keys_by_identity[s.identity].key for s in result.committed]
        event = AuditEvent(
            "publish",
            [dataset.table],
            {dataset.table: result.snapshot_id},
            statement=f"raw ingest of {len(files)} file(s): {', '.join(files)}",
            run_id=run_id,
            rows=sum(s.rows for s in result.committed),
            message="through the quality gate" if suite is not None else "",
        )
        record_audit(catalog, settings, [event])
    log.info(
        "%s: committed %d file(s), %d rows, snapshot %s",
        dataset.table,
        len(result.committed),
        sum(s.rows for s in result.committed),
        result.snapshot_id,
    )


def report_as_dict(report: IngestReport) -> dict:
    """The report as plain JSON-able data (for logs and the CLI)."""
    data = asdict(report)
    data["quarantined"] = [
        {**asdict(q), "quarantined_at": q.quarantined_at.isoformat()} for q in report.quarantined
    ]
    data["rows"] = report.rows
    data["bytes"] = report.bytes
    return data
