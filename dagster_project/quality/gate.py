"""The quality gate of one batch: drop rejected rows, audit on the branch, decide whether main moves."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from sqlglot import exp

from dagster_project.lakehouse.ops_tables.quarantine import QuarantineRecord
from dagster_project.lakehouse.publish import PublishResult, StagedFile
from dagster_project.lakehouse.wap import Verdict
from dagster_project.quality.engine import ExpectationResult, evaluate, unexpected_predicate, view_name
from dagster_project.quality.suites import Expectation, Suite

log = logging.getLogger(__name__)
BATCH = "batch"


@dataclass
class GateReport:
    """Every expectation's result on a batch, and what the gate did about it."""

    suite: Suite
    results: list[ExpectationResult] = field(default_factory=list)
    dropped: list[QuarantineRecord] = field(default_factory=list)
    held_back: bool = False
    # Why the batch may not publish although no `fail` expectation failed (e.g. too many rows to drop).
    refused: list[str] = field(default_factory=list)
    branch: str | None = None
    held_snapshot_id: int | None = None
    docs: Path | None = None
    # When files were held alone (`file_gate.py`), `results` are the rest's: what the whole batch
    # failed before those files were set apart, with its counts, is kept here.
    files_failed: list[ExpectationResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ExpectationResult]:
        """Results that hold the batch back (action `fail`)."""
        return [r for r in self.results if not r.success and r.expectation.action == "fail"]

    @property
    def holding(self) -> list[ExpectationResult]:
        """What held rows back: the batch's failures, or those of the files held alone."""
        return self.failed or self.files_failed


def suite_parameters(now: datetime, freshness_hours: float | None) -> dict[str, Any]:
    """Values of the suite parameters a suite may use as {"$PARAMETER": name}."""
    floor = now - timedelta(hours=freshness_hours or 24 * 365)
    return {"now": now.replace(tzinfo=None), "freshness_floor": floor.replace(tzinfo=None)}


def _table_level(e: Expectation) -> bool:
    return e.against_table or bool(e.tables_read)


def _view_staged(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    reader = exp.func(
        "read_parquet",
        exp.Array(expressions=[exp.convert(str(f)) for f in files]),
        exp.EQ(this=exp.column("filename"), expression=exp.true()),
        exp.EQ(this=exp.column("file_row_number"), expression=exp.true()),
        exp.EQ(this=exp.column("union_by_name"), expression=exp.true()),
    )
    view = exp.Create(
        this=exp.to_table(BATCH), kind="VIEW", replace=True, expression=exp.select("*").from_(reader)
    )
    con.execute(view.sql("duckdb"))


def gate_batch(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    staged: list[StagedFile],
    *,
    dataset: str,
    run_id: str,
    parameters: dict[str, Any],
    pii_columns: set[str],
    report: GateReport,
    max_dropped_rows: int | None = None,
) -> list[StagedFile]:
    """Apply `drop` expectations (rewriting the staged files) and evaluate every batch-level one.

    Args:
        max_dropped_rows: More rows than this to drop is not a few bad rows but a bad batch: nothing
            is dropped and the batch is held back for review (`report.refused` says why).

    Returns:
        The staged files with rejected rows removed (their row counts updated).
    """
    if not staged:
        return staged
    _view_staged(con, [s.parquet for s in staged])
    drops = [e for e in suite.expectations if e.action == "drop"]
    batch_level = [e for e in suite.expectations if e.action != "drop" and not _table_level(e)]
    # One pass for everything; only when `drop` rejected rows is the rest judged again on what is kept.
    results = evaluate(
        con, drops + batch_level, relation=BATCH, parameters=parameters, pii_columns=pii_columns
    )
    drop_results = results[: len(drops)]
    to_drop = sum(r.unexpected_count or 0 for r in drop_results)
    if max_dropped_rows is not None and to_drop > max_dropped_rows:
        report.results += results
        report.refused.append(
            f"{to_drop} rows would be dropped, more than {max_dropped_rows} "
            "(FOUNDATION_MAX_REJECTED_ROWS_PER_FILE): held back whole for review"
        )
        return staged
    if to_drop:
        report.results += drop_results
        staged = _drop_rows(
            con, drops, staged, dataset=dataset, run_id=run_id, parameters=parameters, report=report
        )
        _view_staged(con, [s.parquet for s in staged])
        results = drop_results + evaluate(
            con, batch_level, relation=BATCH, parameters=parameters, pii_columns=pii_columns
        )
        report.results = results
    else:
        report.results += results
    return staged


def _drop_rows(
    con: duckdb.DuckDBPyConnection,
    drops: list[Expectation],
    staged: list[StagedFile],
    *,
    dataset: str,
    run_id: str,
    parameters: dict[str, Any],
    report: GateReport,
) -> list[StagedFile]:
    now = datetime.now(UTC)
    predicates = {e.name: unexpected_predicate(e, BATCH, parameters, con) for e in drops}
    # A row rejected by several expectations is recorded once, under the first.
    reason = exp.Case(ifs=[exp.If(this=p, true=exp.convert(name)) for name, p in predicates.items()])
    batch = exp.select(
        exp.Star(except_=[exp.column("filename"), exp.column("file_row_number")]),
        exp.column("filename"),
        exp.column("file_row_number"),
    ).from_(BATCH)
    query = (
        exp.select(
            reason.as_("expectation"),
            exp.func("to_json", exp.column("b")).as_("row_data"),
            exp.column("_source_file"),
            exp.column("_source_checksum"),
        )
        .from_(batch.subquery("b"))
        .where(exp.or_(*(exp.paren(p) for p in predicates.values())))
    )
    rejected = con.execute(query.sql("duckdb")).fetchall()
    by_name = {e.name: e for e in drops}
    for expectation, row_data, source_file, checksum in rejected:
        row = json.loads(row_data)
        for key in (
            "filename",
            "file_row_number",
            "_source_file",
            "_source_checksum",
            "_run_id",
            "_ingested_at",
        ):
            row.pop(key, None)
        e = by_name[expectation]
        report.dropped.append(
            QuarantineRecord(
                quarantined_at=now,
                dataset=dataset,
                source_file=source_file,
                source_checksum=checksum,
                quarantine_file="",
                reason=f"expectation:{e.name}",
                message=f"{source_file.rsplit('/', 1)[-1]}: row dropped by {e.type} "
                f"{json.dumps(e.kwargs, default=str)} (suite action 'drop'); the row is kept here",
                line=None,
                column_name=", ".join(e.columns) or None,
                run_id=run_id,
                row_data=json.dumps(row, default=str),
                scope="row",  # the rest of the file publishes
            )
        )
    for result in report.results:
        result.dropped = result.unexpected_count or 0
    keep = exp.and_(
        *(exp.Not(this=exp.func("coalesce", exp.paren(p), exp.false())) for p in predicates.values())
    )
    kept = []
    for s in staged:
        target = s.parquet.with_suffix(".kept.parquet")
        rows_kept = (
            exp.select(exp.Star(except_=[exp.column("filename"), exp.column("file_row_number")]))
            .from_(BATCH)
            .where(exp.and_(exp.column("filename").eq(exp.convert(str(s.parquet))), keep))
        )
        copy = exp.Copy(
            this=rows_kept.subquery(),
            kind=False,
            files=[exp.convert(str(target))],
            params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet"))],
        )
        rows = con.execute(copy.sql("duckdb")).fetchone()[0]
        target.replace(s.parquet)
        kept.append(
            StagedFile(s.source_uri, s.checksum, s.parquet, int(rows), s.size, s.new_columns, s.version)
        )
    log.info("dropped %d row(s) rejected by %s", len(rejected), ", ".join(predicates))
    return kept


def table_audit(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    report: GateReport,
    *,
    run_id: str,
    parameters: dict[str, Any],
    pii_columns: set[str],
):
    """The WAP audit: table-level expectations on the batch as committed on the branch, then a verdict."""
    batch_results = list(report.results)

    def audit(table: Table, branch: str, snapshot_id: int, result: PublishResult) -> Verdict:
        report.results = list(batch_results)
        report.branch, report.held_snapshot_id = branch, snapshot_id
        table_level = [e for e in suite.expectations if _table_level(e)]
        if table_level:
            report.results += _audit_against_tables(
                catalog,
                con,
                table,
                table_level,
                snapshot_id,
                [s.parquet for s in result.committed],
                parameters=parameters,
                pii_columns=pii_columns,
            )
        failed = report.failed
        if not failed and not report.refused:
            return Verdict(True)
        reasons = "; ".join(
            [
                f"{r.expectation.name}: {r.unexpected_count} unexpected"
                if r.unexpected_count is not None
                else f"{r.expectation.name}: observed {r.observed_value}"
                for r in failed
            ]
            + report.refused
        )
        return Verdict(False, reasons)

    return audit


def stream_into(con: duckdb.DuckDBPyConnection, name: str, reader: pa.RecordBatchReader) -> None:
    """Copy an Arrow stream into a DuckDB temp table: batch by batch, spilling past DuckDB's memory limit."""
    con.register("__stream", reader)
    try:
        copy = exp.Create(
            this=exp.Table(this=exp.to_identifier(name, quoted=True)),
            kind="TABLE",
            replace=True,
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            expression=exp.select("*").from_("__stream"),
        )
        con.execute(copy.sql("duckdb"))
    finally:
        con.unregister("__stream")


def read_other_tables(catalog: Catalog, con: duckdb.DuckDBPyConnection, e: Expectation) -> str | None:
    """Load the other tables an expectation reads (main's head) into DuckDB under their view names.

    Returns:
        None when every table was loaded; else why the expectation cannot pass (a table it must be
        consistent with does not exist yet: that is a failure too).
    """
    absent = [other for other in e.tables_read if not catalog.table_exists(other)]
    if absent:
        return f"{absent[0]} does not exist yet"
    for other in e.tables_read:
        other_table = catalog.load_table(other)
        view = view_name(other)
        if other_table.current_snapshot() is None:
            empty = other_table.schema().as_arrow()
            stream_into(con, view, pa.RecordBatchReader.from_batches(empty, []))
        else:
            stream_into(con, view, other_table.scan().to_arrow_batch_reader())
    return None


def _audit_against_tables(
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    table: Table,
    expectations: list[Expectation],
    branch_snapshot: int,
    batch_files: list[Path],
    *,
    parameters: dict[str, Any],
    pii_columns: set[str],
) -> list[ExpectationResult]:
    # The batch as committed on the branch is exactly its staged files (those the commit took):
    # DuckDB reads them where they are, instead of loading the batch into memory from the table.
    _view_staged(con, batch_files)
    published: dict[str, str] = {}
    missing: list[ExpectationResult] = []
    runnable = []
    parent = table.snapshot_by_id(branch_snapshot).parent_snapshot_id
    for e in expectations:
        if e.against_table and e.columns and parent is not None:
            # Main's values of the key (one column, or a compound key's columns) as it was before.
            name = "published_" + "_".join(e.columns)
            scan = table.scan(snapshot_id=parent, selected_fields=tuple(e.columns))
            stream_into(con, name, scan.to_arrow_batch_reader())
            published[",".join(e.columns)] = name
        absent = read_other_tables(catalog, con, e)
        if absent:
            rows = con.table(BATCH).aggregate("count(*)").fetchone()[0]  # type: ignore[index]
            missing.append(ExpectationResult(e, False, int(rows), observed_value=absent))
            continue
        runnable.append(e)
    results = evaluate(
        con,
        runnable,
        relation=BATCH,
        parameters=parameters,
        pii_columns=pii_columns,
        published=published,
    )
    return results + missing
