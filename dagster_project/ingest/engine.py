"""The one ingest engine: tables and documents go through the same per-file loop.

list → identity → skip what is handled → fetch → convert, or quarantine → stage → publish.
Each rule about landed files (what a version is, what counts as handled, content problems versus
the environment failing, quarantine records, exactly-once commits through the quality gate) is
written here once; a `Converter` says only how one landed file becomes rows.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import duckdb
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from dagster_project import faults
from dagster_project.cluster import cluster_address
from dagster_project.ingest.convert import Converted, FileRejected, connect
from dagster_project.ingest.fast_lane import GroupConverter, convert_groups
from dagster_project.ingest.on_ray import read_ahead_on_cluster
from dagster_project.ingest.read_ahead import Ahead, read_ahead, still_new
from dagster_project.ingest.records import duplicate_record, key_label, quarantine_file, row_records
from dagster_project.ingest.report import Converter, IngestReport
from dagster_project.ingest.sources import environment_failure
from dagster_project.ingest.units import Handled, Lineage, Unit, combined_checksum, not_handled
from dagster_project.lakehouse.evolution import evolve_raw_table
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_missing_publishes
from dagster_project.lakehouse.ops_tables.audit import record as record_audit
from dagster_project.lakehouse.ops_tables.handled_files import handled_index, record_missing
from dagster_project.lakehouse.ops_tables.handled_rows import HandledAs, again_rows, quarantine_rows
from dagster_project.lakehouse.ops_tables.quarantine import (
    DUPLICATE,
    QuarantineRecord,
    duplicate_versions,
    quarantined_versions,
    record_quarantine,
)
from dagster_project.lakehouse.publish import StagedFile, ingested_versions, publish_batch
from dagster_project.lakehouse.resolved import rebuild_record
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, ensure_raw_table, open_catalog, type_name_of
from dagster_project.lakehouse.wap import AuditFailed, recover_unfinished, write_audit_publish
from dagster_project.landing.store import FileChanged, LandingEntryRefused
from dagster_project.landing.zone import open_landing
from dagster_project.quality.file_gate import failing_files, hold_failing_files
from dagster_project.quality.gate import GateReport, gate_batch, suite_parameters, table_audit
from dagster_project.quality.groups import GroupFailure
from dagster_project.quality.suites import Suite
from dagster_project.registry import Dataset
from dagster_project.settings import Settings


def ingest_units(
    settings: Settings,
    dataset: Dataset,
    units: Sequence[Unit],
    convert: Converter,
    *,
    run_id: str,
    retry_quarantined: bool = False,
    suite: Suite | None = None,
    log: logging.Logger | None = None,
    before_commit: Callable[[], None] | None = None,
    report: IngestReport | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    into: Table | None = None,
    skip_duplicates: bool | None = None,
    workers: int = 1,
    convert_group: GroupConverter | None = None,
    remote: Converter | None = None,
) -> IngestReport:
    """Ingest landed units of one dataset into `raw.<dataset>` in one atomic commit.

    Args:
        settings: Where the landing zone, warehouse and catalog are.
        dataset: The registry entry (or the documents layer's table definition).
        units: The landed versions to consider, oldest first.
        convert: How one unit becomes a staged Parquet file.
        run_id: Dagster run id (lineage column and snapshot summary).
        retry_quarantined: Try again versions quarantined whole before.
        suite: The table's expectation suite: the batch then goes through Write-Audit-Publish.
        log: Where progress goes.
        before_commit: Fault-injection hook, called right before the commit.
        report: A report to fill in (callers may have noted skipped keys already).
        con: The DuckDB connection the converter uses: the gate runs on it too, so that one run
            holds one DuckDB memory limit, not two (one is opened when None).
        into: Write this table instead of the dataset's raw table (a rebuild's new table).
        skip_duplicates: Skip (and record) a version whose bytes were taken under another key; by
            default as the dataset's `duplicates` policy says ('skip').
        workers: Units fetched and converted at the same time (`convert` must then be thread-safe):
            a batch of many small files is bound by per-file latency, not by the cores.
        convert_group: Converts a group of small files in one query (`fast_lane.py`); a group it
            cannot take whole goes the per-file way.
        remote: `convert` in a form that ships to Ray workers (picklable; it opens what it needs
            there). With `settings.ray_address` set, the units are fetched and converted on the
            cluster (`on_ray.py`), without the fast lane; the driver still decides and commits.

    Returns:
        The report: versions ingested, skipped and quarantined, rows, snapshot id.

    Raises:
        EnvironmentFailure: Disk, memory, permissions, catalog or store failed; nothing was
            quarantined for it and the run may be retried.
        SchemaConflict: The registry changed a column's type in a way the table cannot take in
            place; nothing was read (`foundation rebuild` fixes it).
    """
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    catalog = open_catalog(settings)
    table = into or ensure_raw_table(catalog, dataset)
    # The registry's widenings reach the table before any file is cast to its types.
    evolved = [] if into else evolve_raw_table(table, dataset, sources_file=settings.sources_file, logger=log)
    # Finish what a crashed run left: an audit that never reached a verdict is removed (its files
    # are due again), and publishes whose audit-log event was lost get it now.
    recover_unfinished(
        table, current_run_id=run_id, grace_seconds=settings.unfinished_audit_grace_seconds, logger=log
    )
    record_missing_publishes(catalog, settings, table)
    landing = open_landing(settings)
    report = report or IngestReport(dataset.name, dataset.table, table.location(), None)
    report.table_location = table.location()
    report.schema_changes = [str(c) for c in evolved]
    if skip_duplicates is None:
        skip_duplicates = dataset.duplicates == "skip"
    handled = Handled(
        ingested_versions(table),
        set() if retry_quarantined else quarantined_versions(catalog, dataset.name),
        duplicates=duplicate_versions(catalog, dataset.name) if skip_duplicates else {},
        skip_duplicates=skip_duplicates,
        root=f"{landing.uri}/",
    )
    # Versions handled before are skipped by their landing version, before any fetch or checksum.
    manifest = None if into else handled_index(catalog, dataset.name, table)
    units = not_handled(
        units,
        manifest,
        report.skipped,
        name_of=lambda uri: key_label(uri, f"{landing.uri}/"),
        retry=retry_quarantined,
        skip_duplicates=skip_duplicates,
    )
    if manifest is not None:
        handled.held = manifest.held_bytes({(u.file.uri, u.versioned.version) for u in units})
    lineage_base = Lineage.of_batch(run_id, report.started_at, units)
    lineage_names = {name for name, _, _ in LINEAGE_FIELDS}
    table_columns = {
        f.name: type_name_of(f.field_type) for f in table.schema().fields if f.name not in lineage_names
    }
    scratch = settings.work_dir / run_id
    scratch.mkdir(parents=True, exist_ok=True)
    staged: list[StagedFile] = []
    converting = time.perf_counter()
    report.seconds["prepare"] = converting - started
    log.info("%s: %d file(s) to consider", dataset.table, len(units))
    on_cluster = remote is not None and cluster_address(settings) is not None
    converted_ahead: Iterator[tuple[int, Unit, Ahead | None]] = iter(())
    total = len(units)  # progress lines count the batch's files, those of the fast lane first
    try:
        if convert_group is not None and not on_cluster:  # groups of small files first (fast_lane.py)
            units = convert_groups(
                dataset, units, convert_group, landing, scratch, handled, lineage_base, table_columns,
                log=log,
                stage=lambda unit, checksum, converted: staged.append(
                    _stage(settings, dataset, unit, checksum, converted, report, run_id, handled)[0]
                ),
            )  # fmt: skip
        if on_cluster:
            assert remote is not None
            converted_ahead = read_ahead_on_cluster(
                units, remote, settings, scratch, lineage_base, table_columns, report=report, log=log
            )
        else:
            converted_ahead = read_ahead(
                units, workers, convert, landing, scratch, handled, lineage_base, table_columns
            )
        offset, step = total - len(units), -(-total // 10)  # about 10 progress lines a batch
        for index, unit, ahead in converted_ahead:
            before = report.counts()
            if ahead is not None and still_new(ahead, handled, table_columns, landing.uri):
                outcome = _stage(settings, dataset, ahead.unit, ahead.checksum, ahead.converted, report,
                                 run_id, handled)  # fmt: skip
            else:  # read one by one: a skip, a rejection, or what an earlier file of the window changed
                outcome = _ingest_one(
                    settings, dataset, unit, index, convert, landing, scratch, report, run_id, log,
                    handled=handled, lineage_base=lineage_base, table_columns=table_columns,
                )  # fmt: skip
            place = offset + index
            if total <= 20 or place % step == 0 or place == total:  # whatever became of the file
                rows = None if outcome is None else outcome[1].rows
                log.info("[%d/%d] %s: %s", place, total, unit.label, report.what_became(rows, before))
            if outcome is None:
                continue
            staged_file, converted = outcome
            table_columns.update(converted.new_columns)
            staged.append(staged_file)
            for record in report.rejected_rows[-len(converted.rejected) :] if converted.rejected else []:
                log.warning("row quarantined: %s", record.message)
        if (
            into is not None
        ):  # a rebuild's verdicts on rows are records of its own (see lakehouse/resolved.py)
            report.rejected_rows = [rebuild_record(r) for r in report.rejected_rows]
        faults.reached("ingest.staged")
        committing = time.perf_counter()
        report.seconds["convert"] = committing - converting
        if staged:
            _gate_and_publish(
                catalog, table, staged, dataset, report, handled.staged,
                settings=settings, suite=suite, run_id=run_id, before_commit=before_commit, log=log, con=con,
            )  # fmt: skip
        else:
            record_quarantine(catalog, report.quarantine_records)
        report.seconds["commit"] = time.perf_counter() - committing
        if manifest is not None:  # after the commit: lookups read what the manifest lacks from summaries
            again = again_rows(dataset.name, table, report.handled_again, run_id)
            record_missing(
                catalog, dataset.name, table, extra=quarantine_rows(report.quarantine_records) + again
            )
    except RuntimeError as exc:  # a query of the gate interrupted: retried, not the data's fault
        failure = environment_failure(exc, dataset.table)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if isinstance(converted_ahead, Generator):  # its threads or cluster tasks end now, not when collected
            converted_ahead.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def _ingest_one(
    settings: Settings,
    dataset: Dataset,
    unit: Unit,
    index: int,
    convert: Converter,
    landing,  # noqa: ANN001 - LocalLanding | S3Landing
    scratch: Path,
    report: IngestReport,
    run_id: str,
    log: logging.Logger,
    *,
    handled: Handled,
    lineage_base: Lineage,
    table_columns: dict[str, str],
) -> tuple[StagedFile, Converted] | None:
    """Fetch, identify and convert one unit; a staged file, or None when skipped or quarantined.

    The report changes only once the fetch has ended cleanly: a file that changed while it was
    read (`FileChanged`, raised on leaving the fetch) leaves no trace but a skip.
    """
    skipped: str | None = None
    again: HandledAs | None = None  # a new landing version of bytes handled before: how they were
    rejected: QuarantineRecord | None = None
    duplicate: QuarantineRecord | None = None
    converted: Converted | None = None
    try:
        with ExitStack() as stack:
            fetched = [stack.enter_context(landing.fetch(f, scratch)) for f in (unit.file, *unit.companions)]
            # The versions actually read (a file may have changed since it was listed).
            unit = Unit(fetched[0].file, tuple(f.file for f in fetched[1:]))
            paths = [f.path for f in fetched]
            checksum = combined_checksum([f.checksum for f in fetched])
            identity = (unit.file.uri, checksum)
            root = f"{landing.uri}/"
            tail = unit.file.uri[len(root) - 1 :] if unit.file.uri.startswith(root) else ""
            skipped = handled.why(identity, tail)
            found = handled.handled_as(identity, tail)
            again = None if found is None else found[0]
            if skipped is None and handled.skip_duplicates:
                recorded = handled.recorded_duplicate(identity)
                if recorded is not None:
                    skipped = f"already recorded as a duplicate of {key_label(recorded, root)}"
                    again = HandledAs(DUPLICATE, duplicate_of=recorded)
                else:
                    original = handled.duplicate_of(identity)
                    if original is not None:
                        duplicate = duplicate_record(dataset, unit, checksum, original, root, run_id)
            if skipped is None and duplicate is None:
                lineage = lineage_base.values(unit, checksum)
                out_path = scratch / f"{index:05d}.parquet"
                try:
                    converted = convert(
                        unit, paths, lineage=lineage, out_path=out_path, table_columns=table_columns
                    )
                except FileRejected as problem:
                    rejected = quarantine_file(
                        settings, dataset, unit.versioned, paths[0], checksum, problem, run_id
                    )
    except FileNotFoundError:
        skipped, again = "no longer in the landing zone", None
    except FileChanged:
        skipped, again = "changed while it was read; it will be taken again", None
        log.warning("%s: %s", unit.label, skipped)
    except LandingEntryRefused as refused:
        skipped, again = f"not read ({refused.why})", None
    except (OSError, RuntimeError) as exc:  # a full disk, a permission, an interrupted DuckDB query
        failure = environment_failure(exc, unit.label)
        if failure is None:
            raise
        raise failure from exc
    if skipped is not None:
        report.skipped.append({"file": unit.label, "why": skipped})
        if again is not None:  # recorded: no sensor or catch-up requests this version again
            report.handled_again.append((unit.file.uri, unit.versioned.version, checksum, again))
        return None
    if duplicate is not None:
        log.warning("%s", duplicate.message)
        report.duplicates.append(duplicate)
        return None
    if rejected is not None:
        log.warning("quarantined %s: %s", unit.label, rejected.message)
        report.quarantined.append(rejected)
        handled.rejected.setdefault(checksum, unit.file.uri)
        return None
    assert converted is not None
    return _stage(settings, dataset, unit, checksum, converted, report, run_id, handled)


def _stage(
    settings: Settings,
    dataset: Dataset,
    unit: Unit,
    checksum: str,
    converted: Converted,
    report: IngestReport,
    run_id: str,
    handled: Handled,
) -> tuple[StagedFile, Converted]:
    """Take a converted unit into the batch: its rows set apart go to the report, its identity is staged."""
    report.rejected_rows += row_records(dataset, unit, checksum, converted, run_id, settings.sources_file)
    handled.staged[(unit.file.uri, checksum)] = unit
    staged = StagedFile(
        unit.file.uri,
        checksum,
        converted.path,
        converted.rows,
        sum(f.size for f in (unit.file, *unit.companions)),
        converted.new_columns,
        version=unit.versioned.version,
    )
    return staged, converted


def _gate_and_publish(
    catalog: Catalog,
    table: Table,
    staged: list[StagedFile],
    dataset: Dataset,
    report: IngestReport,
    units: dict[tuple[str, str], Unit],
    *,
    settings: Settings,
    suite: Suite | None,
    run_id: str,
    before_commit: Callable[[], None] | None,
    log: logging.Logger,
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Drop rows by `drop` expectations, record every quarantine record, then commit the batch.

    Quarantine records go to ops.quarantine before the commit (each has a stable id, so a rerun
    after a crash records none twice): a row set apart is never lost, whatever happens next.
    Then the batch goes straight to main, or through the suite's gate (Write-Audit-Publish).
    """
    day = report.started_at.date().isoformat()
    held: dict[str, GroupFailure] = {}
    own = con is None
    if con is None:
        con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
    try:
        audit = None
        if suite is not None:
            pii = set(dataset.pii_columns)
            parameters = suite_parameters(report.started_at, dataset.freshness_max_age_hours)
            report.gate = gate = GateReport(suite)
            staged = gate_batch(
                con, suite, staged, dataset=dataset.name, run_id=run_id, parameters=parameters,
                pii_columns=pii, report=gate,
            )  # fmt: skip
            whole = list(gate.results)
            # Files whose own rows fail a blocking expectation hold back themselves, not the batch.
            held = failing_files(con, suite, staged, gate, parameters=parameters, pii_columns=pii)
            audit = table_audit(
                catalog, con, suite, gate, run_id=run_id, parameters=parameters, pii_columns=pii
            )
        record_quarantine(catalog, report.quarantine_records)
        if audit is None:
            result = publish_batch(table, staged, run_id=run_id, ingest_day=day, before_commit=before_commit)
        else:
            batch = [s for s in staged if s.source_uri not in held]
            try:
                try:
                    result = write_audit_publish(
                        table, batch, run_id=run_id, ingest_day=day, audit=audit
                    ).publish
                except AuditFailed:
                    if not held:
                        raise
                    # The rest failed the audit on the branch too: the whole batch is held, as before.
                    gate.results, held = whole, {}
                    write_audit_publish(table, staged, run_id=run_id, ingest_day=day, audit=audit)
            except AuditFailed as failed:
                gate.held_back = True
                log.warning("%s", failed)
                report.held_back = [{"file": units[s.identity].label, "rows": s.rows} for s in staged]
                return
            gate.branch = None  # published: the audit branch is gone
            if held:
                labels = {s.identity: units[s.identity].label for s in staged}
                report.held_back = hold_failing_files(
                    table, staged, held, gate, labels, run_id=run_id, day=day, log=log
                )
    finally:
        if own:
            con.close()
    report.snapshot_id = result.snapshot_id
    for s in result.committed:
        report.ingested.append(
            {"file": units[s.identity].key, "rows": s.rows, "bytes": s.size, "checksum": s.checksum}
        )
        report.new_columns.update(s.new_columns)
    for s in result.already_ingested:
        report.skipped.append({"file": units[s.identity].label, "why": "committed by a concurrent run"})
    rows = sum(s.rows for s in result.committed)
    if result.committed:
        keys = [units[s.identity].label for s in result.committed]
        listed = ", ".join(keys[:20]) + (f" and {len(keys) - 20} more" if len(keys) > 20 else "")
        written = ".".join(table.name())  # the dataset's raw table, or a rebuild's new one
        gated = "through the quality gate" if suite is not None else ""
        statement = f"raw ingest of {len(keys)} file(s): {listed}"
        event = AuditEvent("publish", [written], {written: result.snapshot_id}, run_id=run_id, rows=rows,
                           statement=statement, message=gated)  # fmt: skip
        record_audit(catalog, settings, [event])
    log.info("%s: committed %d file(s), %d rows, snapshot %s", dataset.table, len(result.committed), rows,
             result.snapshot_id)  # fmt: skip
