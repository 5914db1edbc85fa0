"""A raw batch judged per landed file: files whose rows fail a blocking expectation hold back themselves.

A batch carries up to hundreds of landed files (one sensor run per tick). When a blocking
expectation fails, the files to blame are found with `quality/groups.py` (rows carry their file
in `_source_file`): the other files publish to main in the same run, and the failing ones are
committed on top of it to the run's `audit-<run id>` branch with their verdict, exactly as a held
batch (release, discard, `foundation held`, the held check). A failure no file is to blame for
alone holds the whole batch, as does any failure of a batch of one file.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

import duckdb
from pyiceberg.table import Table
from sqlglot import exp

from dagster_project.lakehouse.publish import PublishResult, StagedFile
from dagster_project.lakehouse.wap import AuditFailed, Verdict, write_audit_publish
from dagster_project.quality.engine import evaluate, unexpected_predicate
from dagster_project.quality.gate import BATCH, GateReport, _table_level, _view_staged
from dagster_project.quality.groups import GroupFailure, judge_groups
from dagster_project.quality.suites import Expectation, Suite


def failing_files(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    staged: list[StagedFile],
    report: GateReport,
    *,
    parameters: dict[str, Any],
    pii_columns: set[str],
) -> dict[str, GroupFailure]:
    """The files (source URI -> why) to hold back so that the rest of the batch passes the suite.

    Empty when the batch passed, is to be held whole, or is one file. When files are named,
    `report.results` becomes the suite's results on the rest (what goes through the audit).
    """
    if not report.failed or report.refused or len(staged) < 2:
        return {}
    batch_level = [e for e in suite.expectations if e.action != "drop" and not _table_level(e)]
    blocking = [e for e in batch_level if e.action == "fail"]
    parquet = {s.source_uri: s.parquet for s in staged}

    def view(only: Collection[str] | None, without: Collection[str] = ()) -> bool:
        files = [p for uri, p in parquet.items() if (only is None or uri in only) and uri not in without]
        if files:
            _view_staged(con, files)
        return bool(files)

    def rejected(e: Expectation, only: str | None) -> dict[str, tuple[int, Any]] | None:
        view(None if only is None else [only])
        try:
            predicate = unexpected_predicate(e, BATCH, parameters, con)
        except ValueError:
            return None
        first = exp.func("min", exp.column("file_row_number"))
        query = exp.select("_source_file", first).from_(BATCH).where(predicate).group_by("_source_file")
        return {uri: (int(row), int(row)) for uri, row in con.execute(query.sql("duckdb")).fetchall()}

    def failing(
        expectations: Sequence[Expectation] | None, only: Collection[str] | None, without: Collection[str]
    ) -> list[Expectation]:
        if not view(only, without):
            return []  # nothing left: nothing goes to main, nothing fails
        results = evaluate(
            con,
            list(expectations or blocking),
            relation=BATCH,
            parameters=parameters,
            pii_columns=pii_columns,
        )
        return [r.expectation for r in results if not r.success and r.expectation.action == "fail"]

    held = judge_groups([r.expectation for r in report.failed], list(parquet), rejected, failing)
    if not held or len(held) == len(staged):
        return {}  # no file to blame, or every file: the batch is held whole, as one batch
    report.files_failed = report.failed  # on the whole batch: the held files' failures and counts
    if view(None, held):
        drops = [r for r in report.results if r.expectation.action == "drop"]
        rest = evaluate(con, batch_level, relation=BATCH, parameters=parameters, pii_columns=pii_columns)
        report.results = drops + rest
    return held


def hold_files(
    table: Table,
    staged: Sequence[StagedFile],
    held: dict[str, str],
    report: GateReport,
    *,
    run_id: str,
    ingest_day: str,
) -> AuditFailed | None:
    """Commit the held files to the run's audit branch with a failed verdict (after the rest published).

    Args:
        held: landed file label -> the blocking expectations it failed, in words (no row values).

    Returns:
        The hold (its branch and snapshot), or None when every one of these file versions was on
        main already (a concurrent run published them).
    """
    reason = "; ".join(f"{label}: {why}" for label, why in held.items())
    failed = tuple(dict.fromkeys(n for why in held.values() for n in why.split(", ")))

    def audit(table: Table, branch: str, head: int, result: PublishResult) -> Verdict:
        report.branch, report.held_snapshot_id = branch, head
        return Verdict(False, f"their own rows failed: {reason}", failed)

    try:
        write_audit_publish(table, staged, run_id=run_id, ingest_day=ingest_day, audit=audit)
    except AuditFailed as hold:
        return hold
    return None


def hold_failing_files(
    table: Table,
    staged: Sequence[StagedFile],
    held: dict[str, GroupFailure],
    gate: GateReport,
    labels: dict[tuple[str, str], str],
    *,
    run_id: str,
    day: str,
    log: logging.Logger,
) -> list[dict[str, Any]]:
    """After the rest of the batch published: hold the failing files on the run's audit branch.

    Args:
        held: source URI -> what its rows failed (from `failing_files`).
        labels: staged file identity -> its landing key's label, for the report.

    Returns:
        The files held back (file, rows, expectations failed); empty when a concurrent run published
        them meanwhile.
    """
    files = [s for s in staged if s.source_uri in held]
    why = {labels[s.identity]: ", ".join(held[s.source_uri].failed) for s in files}
    hold = hold_files(table, files, why, gate, run_id=run_id, ingest_day=day)
    if hold is None:  # a concurrent run published them meanwhile
        gate.branch = None
        return []
    # Not the hold's own message ("main is unchanged"): the rest of the batch has just reached main.
    named = [f"{label} (failed {failed})" for label, failed in why.items()]
    listed = "; ".join(named[:20]) + (f"; and {len(named) - 20} more" if len(named) > 20 else "")
    log.warning(
        "%s: %d file(s) held back by the quality gate on branch %r (snapshot %s), failing on their own "
        "rows: %s. The other %d file(s) of the batch published to main. Review with `foundation held`.",
        ".".join(table.name()), len(files), hold.branch, hold.snapshot_id, listed, len(staged) - len(files),
    )  # fmt: skip
    gate.held_back = True
    return [{"file": labels[s.identity], "rows": s.rows, "failed": why[labels[s.identity]]} for s in files]
