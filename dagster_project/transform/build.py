"""One dbt build, published: sync the working database, run `dbt build`, then Write-Audit-Publish each model.

A model's changes (the rows its dbt invocation wrote) reach its Iceberg table's main only when its
dbt tests passed, its Great Expectations suite (if any) passed on the branch, and every upstream
model it read was published; otherwise they stay on `audit-<run id>` and main is untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from dagster_project import faults
from dagster_project.lakehouse.branches import UPSTREAM_NOT_PUBLISHED
from dagster_project.lakehouse.changes import SEQUENCE_COLUMN, WATERMARK_PROPERTY, watermarks
from dagster_project.lakehouse.held import RunAlive, recover_unfinished
from dagster_project.lakehouse.merge import ensure_model_table, merge_audit_publish
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_missing_publishes
from dagster_project.lakehouse.ops_tables.audit import record as record_audit
from dagster_project.lakehouse.publish import INVOCATION_PROPERTY, RUN_PROPERTY
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import AuditFailed, Verdict, main_head
from dagster_project.quality.engine import ExpectationResult, evaluate
from dagster_project.quality.gate import GateReport, read_other_tables, stream_into, suite_parameters
from dagster_project.quality.suites import Suite
from dagster_project.settings import Settings
from dagster_project.transform import working_db
from dagster_project.transform.messages import error_cause, redact
from dagster_project.transform.working_db import Model

if TYPE_CHECKING:
    import duckdb


@dataclass
class ModelOutcome:
    """What happened to one model in a build: published, unchanged, held back or not built."""

    model: Model
    status: str
    rows: int = 0
    snapshot_id: int | None = None
    branch: str | None = None
    reason: str = ""
    gate: GateReport | None = None
    total_rows: int | None = None

    @property
    def held_back(self) -> bool:
        return self.status == "held back"


@dataclass
class BuildReport:
    """The dbt invocation and every model's outcome, in build order."""

    invocation_id: str
    outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    synced: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # model table → its error's kind and cause


def manifest_models(manifest: Mapping[str, Any]) -> dict[str, Model]:
    """Every dbt model of the manifest by unique id, with its schema and unique key."""
    models = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        key = node["config"].get("unique_key") or ()
        models[uid] = Model(
            node["config"]["schema"], node["name"], (key,) if isinstance(key, str) else tuple(key)
        )
    return models


def incremental_sources(manifest: Mapping[str, Any], uid: str) -> list[str]:
    """Iceberg tables a model reads incrementally (those it keeps a watermark of)."""
    deps = manifest["nodes"][uid]["depends_on"]["nodes"]
    metas = [manifest["sources"][d]["meta"] for d in deps if d in manifest["sources"]]
    return [m["iceberg_table"] for m in metas if m.get("iceberg_table") and m.get("read") != "all"]


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a subprocess started inside the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _suite_audit(catalog: Catalog, suite: Suite | None, report: ModelOutcome, rows: pa.Table, table: str):
    """The audit of a model's rows on the branch: every expectation of its GX suite, if any.

    Batch-level expectations read the rows this build wrote. `against_table` ones read the table as
    committed on the branch (what main becomes if it publishes: a merge replaces a key's row, so
    "unique against the table" means the table stays unique). Those reading other tables
    (`{raw.customers}`, `other_table_name`) read those tables at main's head. None is left out, so
    none can pass without being evaluated.
    """

    def audit(model_table: Table, branch: str, snapshot_id: int) -> Verdict:
        report.branch = branch
        if suite is None:
            return Verdict(True)
        parameters = suite_parameters(datetime.now(UTC), None)
        import duckdb  # here, not at the top: the definitions import this module; only a build needs it

        con = duckdb.connect()
        try:
            batch = rows.append_column("filename", pa.array([table] * rows.num_rows, pa.string()))
            batch = batch.append_column("file_row_number", pa.array(range(rows.num_rows), pa.int64()))
            con.register("batch", batch)
            gate = GateReport(suite=suite)
            on_rows, missing = [], []
            for e in suite.expectations:
                if e.against_table:
                    continue
                absent = read_other_tables(catalog, con, e)
                if absent:
                    missing.append(ExpectationResult(e, False, rows.num_rows, observed_value=absent))
                else:
                    on_rows.append(e)
            results = evaluate(con, on_rows, relation="batch", parameters=parameters, pii_columns=set())
            results += missing
            against = [e for e in suite.expectations if e.against_table]
            if against:
                # Only the columns these expectations read, streamed from the branch's snapshot.
                fields = tuple(dict.fromkeys(c for e in against for c in e.columns)) or ("*",)
                scan = model_table.scan(snapshot_id=snapshot_id, selected_fields=fields)
                stream_into(con, "table_after", scan.to_arrow_batch_reader())
                results += evaluate(
                    con, against, relation="table_after", parameters=parameters, pii_columns=set()
                )
        finally:
            con.close()
        gate.results = sorted(results, key=lambda r: r.expectation.index)
        report.gate = gate
        if gate.failed:
            gate.held_back, gate.branch, gate.held_snapshot_id = True, branch, snapshot_id
            names = tuple(r.expectation.name for r in gate.failed)
            return Verdict(False, f"expectations failed: {', '.join(names)}", names)
        return Verdict(True)

    return audit


def _publish_one(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    manifest: Mapping[str, Any],
    uid: str,
    model: Model,
    *,
    invocation_id: str,
    run_id: str,
    hold_reason: str,
    suite: Suite | None,
    full_refresh: bool,
) -> ModelOutcome:
    rows = working_db.written_rows(con, model, invocation_id)
    outcome = ModelOutcome(model, "unchanged", rows=rows.num_rows)
    if rows.num_rows == 0 and not hold_reason:
        # Nothing written: the cached table still equals main (it did before dbt ran).
        if catalog.table_exists(model.table):
            head = main_head(catalog.load_table(model.table))
            if head is not None:
                working_db.mark_published(con, model, head)
                outcome.snapshot_id = head
        return outcome
    table = ensure_model_table(catalog, model.table, rows.schema)
    summary = {RUN_PROPERTY: run_id, INVOCATION_PROPERTY: invocation_id}
    sources = incremental_sources(manifest, uid)
    if sources and SEQUENCE_COLUMN in rows.schema.names:
        marks = {} if full_refresh else watermarks(table)
        newest = pc.max(rows[SEQUENCE_COLUMN]).as_py() or 0
        for source in sources:
            marks[source] = max(marks.get(source, 0), newest)
        summary[WATERMARK_PROPERTY] = json.dumps(marks, sort_keys=True)
    audit = _suite_audit(catalog, suite, outcome, rows, model.table)
    if hold_reason:

        def audit(_t: Table, branch: str, _s: int) -> Verdict:
            outcome.branch = branch
            return Verdict(False, hold_reason)

    key = None if full_refresh or not model.unique_key else model.unique_key
    try:
        result = merge_audit_publish(table, rows, key=key, run_id=run_id, audit=audit, summary=summary)
    except AuditFailed as exc:
        outcome.status, outcome.branch, outcome.snapshot_id = "held back", exc.branch, exc.snapshot_id
        outcome.reason = hold_reason or str(exc).split("main is unchanged: ", 1)[-1]
        working_db.mark_dirty(con, [model])
        return outcome
    working_db.mark_published(con, model, result.snapshot_id)
    table.refresh()
    snapshot = table.current_snapshot()
    summary_now = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    total = summary_now.get("total-records")
    outcome.status, outcome.snapshot_id = "published", result.snapshot_id
    outcome.total_rows = int(total) if total is not None else None
    return outcome


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def _failing_tests(manifest: Mapping[str, Any], results: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Model unique id → names of its failing error-severity dbt tests and unit tests."""
    failing: dict[str, list[str]] = {}
    for r in results:
        uid, status = r["unique_id"], r["status"]
        if status not in ("fail", "error"):
            continue
        if uid.startswith("test."):
            node = manifest["nodes"][uid]
            target = node.get("attached_node") or next(
                (d for d in node["depends_on"]["nodes"] if d.startswith("model.")), None
            )
            if target:
                failing.setdefault(target, []).append(node["name"])
        elif uid.startswith("unit_test."):
            node = manifest.get("unit_tests", {}).get(uid, {})
            model = f"model.{node.get('package_name', 'foundation')}.{node.get('model', '')}"
            failing.setdefault(model, []).append(node.get("name", uid))
    return failing


def publish_build(
    settings: Settings,
    manifest: Mapping[str, Any],
    run_results: Mapping[str, Any],
    *,
    run_id: str,
    suites: Mapping[str, Suite],
    full_refresh: bool = False,
    log: Any = None,
    alive: RunAlive | None = None,
) -> BuildReport:
    """Publish what one `dbt build` wrote, model by model in build order (upstream first).

    First makes good what a stopped build left (`recover`); a model whose publish was lost is
    rebuilt by this build, as its table's main (and so its watermark) never moved.
    """
    models = manifest_models(manifest)
    results = run_results["results"]
    report = BuildReport(run_results["metadata"]["invocation_id"])
    failing = _failing_tests(manifest, results)
    catalog = open_catalog(settings)
    recover(settings, catalog, models.values(), run_id=run_id, alive=alive, log=log)
    faults.reached("dbt.built")
    con = working_db.connect(settings)
    try:
        for r in results:
            uid = r["unique_id"]
            if uid not in models:
                continue
            model = models[uid]
            if r["status"] != "success":
                report.outcomes[uid] = ModelOutcome(
                    model, "not built", reason=r.get("message") or r["status"]
                )
                if r["status"] == "error":
                    report.errors.append(f"{model.table}: {r.get('message')}")
                    report.failures[model.table] = error_cause(r.get("message") or "")
                continue
            blocked = [
                models[d].table
                for d in manifest["nodes"][uid]["depends_on"]["nodes"]
                if d in report.outcomes and report.outcomes[d].status not in ("published", "unchanged")
            ]
            # Both, when both: a discard of the upstream batch discards this one too (review.py).
            reason = "; ".join(
                ([f"dbt tests failed: {', '.join(failing[uid])}"] if failing.get(uid) else [])
                + ([UPSTREAM_NOT_PUBLISHED + ", ".join(blocked)] if blocked else [])
            )
            try:
                outcome = _publish_one(
                    con,
                    catalog,
                    manifest,
                    uid,
                    model,
                    invocation_id=report.invocation_id,
                    run_id=run_id,
                    hold_reason=reason,
                    suite=suites.get(model.table),
                    full_refresh=full_refresh,
                )
            except Exception as exc:  # noqa: BLE001 - one model's publish must not strand the others
                # Write-Audit-Publish left its main as it was (or published whole); its working copy
                # is marked dirty, so the next build syncs it and builds it again. The models that
                # read it are held back (upstream not published).
                working_db.mark_dirty(con, [model])
                cause = f"publish to Iceberg failed: {type(exc).__name__}: {redact(_first_line(str(exc)))}"
                outcome = ModelOutcome(model, "not published", reason=cause)
                report.errors.append(f"{model.table}: {cause}")
                report.failures[model.table] = cause
                if log:
                    log.exception(f"{model.table}: {cause}")
            report.outcomes[uid] = outcome
            if log:
                log.info(
                    f"{model.table}: {outcome.status}, {outcome.rows} row(s) written"
                    + (f", snapshot {outcome.snapshot_id}" if outcome.snapshot_id else "")
                    + (f" ({outcome.reason}; branch {outcome.branch})" if outcome.held_back else "")
                )
    finally:
        con.close()
    published = [o for o in report.outcomes.values() if o.status == "published"]
    record_audit(
        catalog,
        settings,
        [
            AuditEvent(
                "publish",
                [o.model.table],
                {o.model.table: o.snapshot_id},
                statement=f"dbt model: {o.rows} changed row(s), invocation {report.invocation_id}",
                run_id=run_id,
                rows=o.rows,
            )
            for o in published
        ],
    )
    return report


def recover(
    settings: Settings,
    catalog: Catalog,
    models: Iterable[Model],
    *,
    run_id: str,
    alive: RunAlive | None = None,
    log: Any = None,
) -> None:
    """Clean up unfinished audits of the model tables and record publish events a stopped build lost."""
    for model in models:
        if not catalog.table_exists(model.table):
            continue
        table = catalog.load_table(model.table)
        recovery = recover_unfinished(
            table, current_run_id=run_id, alive=alive, grace_seconds=settings.unfinished_audit_grace_seconds
        )
        if log:
            for line in recovery.describe():
                log.info(line)
        record_missing_publishes(catalog, settings, table)


def prepare_working_db(settings: Settings, manifest: Mapping[str, Any], building: set[str]) -> dict[str, str]:
    """Sync every model's cached table with Iceberg, then mark the ones about to be built as dirty."""
    models = manifest_models(manifest)
    con = working_db.connect(settings)
    try:
        actions = working_db.sync(con, open_catalog(settings), models.values())
        working_db.mark_dirty(con, [models[uid] for uid in building if uid in models])
    finally:
        con.close()
    return actions


def dbt_target_dir(settings: Settings) -> Path:
    """dbt's target folder (compiled SQL, run results): one per data dir, so dbt can reuse its partial
    parse between runs (runs never overlap: one dbt build at a time)."""
    return settings.data_dir / "dbt" / "target"


def run_dbt_build(
    context: dg.AssetExecutionContext,
    dbt: Any,
    settings: Settings,
    manifest: Mapping[str, Any],
    *,
    full_refresh: bool = False,
    exclude: list[str] | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Run `dbt build` for the selected models, less `exclude` (dbt arguments); return events and results."""
    args = ["build", *(["--full-refresh"] if full_refresh else []), *(exclude or [])]
    target = dbt_target_dir(settings)
    with environment(settings.to_env()):
        invocation = dbt.cli(args, context=context, raise_on_error=False, target_path=target)
        events = list(invocation.stream())
    return events, invocation.get_artifact("run_results.json")
