"""Dagster metadata for a raw materialization: counts, snapshot, location, schema and a masked preview."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import duckdb
from pyiceberg.table import Table
from sqlglot import exp

from dagster_project.defs.asset_metadata import check_summary
from dagster_project.defs.asset_metadata import column_schema as catalog_column_schema
from dagster_project.ingest.records import key_label
from dagster_project.ingest.run import IngestReport
from dagster_project.lakehouse.held import HeldBatch
from dagster_project.lakehouse.review import find_held, held_rows
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.names import label
from dagster_project.quality.engine import ExpectationResult, unexpected_predicate
from dagster_project.quality.gate import GateReport, suite_parameters
from dagster_project.registry import Dataset
from dagster_project.settings import Settings

PREVIEW_ROWS = 5
# A batch lists this many files by name in the UI, then one line for the rest: a 500-file run's event
# stays small (each is stored, sent to the UI and read back); every row names its file in `_source_file`.
FILES_LISTED = 20
HELD_RELATION = "held_batch"


def column_schema(table: Table, dataset: Dataset) -> dg.TableSchema:
    """The table's columns with their descriptions, and PII kinds as tags."""
    return catalog_column_schema(table.schema(), {c.name: c.pii for c in dataset.columns if c.pii})


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 40 else text[:37] + "..."


def _masked_markdown(data: list[dict], dataset: Dataset) -> str:
    """Rows as a markdown table with PII columns masked (the UI is not a PII store)."""
    names = [n for n in data[0] if n not in ("_source_checksum", "_run_id")]
    # Declared PII columns, and columns no one declared (added by drift): nobody said they hold none.
    declared = {c.name for c in dataset.columns}
    pii = set(dataset.pii_columns) | {n for n in names if n not in declared and not n.startswith("_")}
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in data:
        cells = ["•••" if n in pii and row[n] is not None else _cell(row[n]) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def masked_preview(table: Table, dataset: Dataset, rows: int = PREVIEW_ROWS) -> str:
    """A markdown preview of the first rows with PII columns masked (the UI is not a PII store)."""
    if table.current_snapshot() is None:
        return "_(empty table)_"
    data = table.scan(limit=rows).to_arrow().to_pylist()
    if not data:
        return "_(empty table)_"
    return _masked_markdown(data, dataset)


def held_preview(table: Table, dataset: Dataset, batch: HeldBatch, rows: int = PREVIEW_ROWS) -> str:
    """The first rows of a held batch, read from its branch (not main), PII masked."""
    data = held_rows(table, batch, limit=rows).to_pylist()
    if not data:
        return f"_(no rows on {batch.branch})_"
    return f"Held rows on `{batch.branch}` (not on main):\n\n" + _masked_markdown(data, dataset)


def failing_rows(
    table: Table, dataset: Dataset, batch: HeldBatch, gate: GateReport, started_at: datetime
) -> str:
    """Per failed expectation, up to PREVIEW_ROWS rows of the held batch it rejects, PII masked.

    Rows come from the branch; expectations that judge the batch as a whole (row counts, means)
    show their observed value instead.
    """
    parameters = suite_parameters(started_at, dataset.freshness_max_age_hours)
    sections = []
    with duckdb.connect() as con:
        reader = held_rows(table, batch).to_reader()
        con.register("__held", reader)
        con.execute(
            exp.Create(
                this=exp.to_table(HELD_RELATION),
                kind="TABLE",
                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                expression=exp.select("*").from_("__held"),
            ).sql("duckdb")
        )
        con.unregister("__held")
        for result in gate.holding:
            e = result.expectation
            head = f"**`{e.name}`** ({e.type}): "
            try:
                predicate = unexpected_predicate(e, HELD_RELATION, parameters, con)
                query = exp.select("*").from_(HELD_RELATION).where(predicate).limit(PREVIEW_ROWS)
                arrow = con.execute(query.sql("duckdb")).fetch_arrow_table()
            except (ValueError, duckdb.Error):
                # Not a per-row expectation (or one that needs the published table): its figure.
                sections.append(head + f"observed {result.observed_value}; not judged row by row")
                continue
            data = arrow.to_pylist()
            if not data:
                sections.append(head + f"{result.unexpected_count} unexpected; no single row to show")
                continue
            sections.append(
                head
                + f"{result.unexpected_count} unexpected, first {len(data)}:\n\n"
                + _masked_markdown(data, dataset)
            )
    return "\n\n".join(sections)


def files_table(files: list[dict]) -> str:
    """The files of a batch as a markdown table: the first FILES_LISTED by name, then the rest summed."""
    lines = [f"| {f['file']} | {f['rows']} | {f['bytes']} |" for f in files[:FILES_LISTED]]
    rest = files[FILES_LISTED:]
    if rest:
        lines.append(
            f"| … and {len(rest)} more ({rest[0]['file']} … {rest[-1]['file']}) | "
            f"{sum(int(f['rows']) for f in rest)} | {sum(int(f['bytes']) for f in rest)} |"
        )
    return "| file | rows | bytes |\n|---|---|---|\n" + "\n".join(lines)


def ingest_metadata(
    settings: Settings, dataset: Dataset, report: IngestReport, docs: str | None = None
) -> dict[str, object]:
    """Everything the UI shows for one raw materialization."""
    table = open_catalog(settings).load_table(dataset.table)
    snapshot = table.current_snapshot()
    total = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
    # The message starts with the file's key, already in the first column: show the rest, whole.
    quarantined = [
        f"| {q.source_file.rsplit('/', 1)[-1]} | {q.reason} | "
        f"{q.message.split(': ', 1)[-1].replace('|', '/').replace(chr(10), ' ')} |"
        for q in report.quarantined
    ]
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(total),
        "rows_ingested": dg.MetadataValue.int(report.rows),
        "files_ingested": dg.MetadataValue.int(len(report.ingested)),
        "bytes_ingested": dg.MetadataValue.int(report.bytes),
        "files_skipped": dg.MetadataValue.int(len(report.skipped)),
        "files_quarantined": dg.MetadataValue.int(len(report.quarantined)),
        # Same bytes as a file already taken under another key: skipped, recorded, not quarantined.
        "files_duplicate": dg.MetadataValue.int(len(report.duplicates)),
        # Rows this run sent to ops.quarantine one by one (values that do not fit their column's
        # type, rows rejected by a `drop` expectation); whole files are counted above.
        "quarantined_rows": dg.MetadataValue.int(
            len(report.rejected_rows) + (len(report.gate.dropped) if report.gate else 0)
        ),
        "rows_set_apart": dg.MetadataValue.int(len(report.rejected_rows)),
        "snapshot_id": dg.MetadataValue.text(str(snapshot.snapshot_id) if snapshot else "none"),
        "committed_snapshot_id": dg.MetadataValue.text(str(report.snapshot_id or "none (nothing new)")),
        # Which path ran: the run's own process, or the Ray cluster of FOUNDATION_RAY_ADDRESS.
        "execution": dg.MetadataValue.text(report.execution),
        "dagster/uri": dg.MetadataValue.path(table.location()),
        "dagster/table_name": dg.MetadataValue.text(dataset.table),
        "dagster/column_schema": column_schema(table, dataset),
        "preview": dg.MetadataValue.md(masked_preview(table, dataset)),
    }
    if report.ingested:
        metadata["files"] = dg.MetadataValue.md(files_table(report.ingested))
    root = f"{settings.landing_uri.rstrip('/')}/"
    metadata["file_outcomes"] = dg.MetadataValue.json(file_outcomes(report, root))
    if quarantined:
        metadata["quarantined"] = dg.MetadataValue.md(
            "| file | reason | message |\n|---|---|---|\n" + "\n".join(quarantined)
        )
        # The same as data, for the command line's per-file lines (never read back from markdown).
        metadata["quarantine_reasons"] = dg.MetadataValue.json(
            [{"reason": q.reason, "message": q.message} for q in report.quarantined]
        )
    if report.duplicates:

        def cell(uri: str) -> str:
            return key_label(uri, root).replace("|", "/")

        metadata["duplicates"] = dg.MetadataValue.md(
            "| file | duplicate of |\n|---|---|\n"
            + "\n".join(
                f"| {cell(d.source_file)} | {cell(d.duplicate_of or '')} |" for d in report.duplicates
            )
        )
    if report.rejected_rows:
        # Where and why, never the values (they may be personal data; the rows are in ops.quarantine).
        metadata["rows_set_apart_detail"] = dg.MetadataValue.md(
            "| line | column | message |\n|---|---|---|\n"
            + "\n".join(
                f"| {r.line or ''} | {r.column_name or ''} | {r.message.replace('|', '/')} |"
                for r in report.rejected_rows[:50]
            )
        )
    if report.schema_changes:  # the registry's widenings, applied to the table in place by this run
        metadata["schema_changes"] = dg.MetadataValue.text("; ".join(report.schema_changes))
    if report.new_columns:
        metadata["schema_drift"] = dg.MetadataValue.json(report.new_columns)
    gate = report.gate
    if gate is not None:
        results = gate.results
        partly = gate.held_back and bool(report.ingested)  # failing files held, the rest on main
        state = "FILES HELD BACK" if partly else "HELD BACK" if gate.held_back else "passed"
        metadata["quality_gate"] = dg.MetadataValue.text(state)
        metadata |= check_summary(r.success for r in results)
        metadata["rows_dropped"] = dg.MetadataValue.int(len(gate.dropped))
        metadata["suite"] = dg.MetadataValue.path(gate.suite.file)
        if docs is not None:
            metadata["data_docs"] = dg.MetadataValue.url(docs)
        if gate.held_back:
            if not partly:
                # Nothing reached main: say so first, and count what is waiting, not "0 rows ingested".
                del metadata["rows_ingested"]
            metadata = {"quality_gate": metadata.pop("quality_gate")} | metadata
            metadata["rows_held"] = dg.MetadataValue.int(sum(int(f["rows"]) for f in report.held_back))
            batch = find_held(table, gate.branch) if gate.branch else None
            if batch is not None:
                # When files were held alone, `preview` stays main's (it changed) and the held rows are apart.
                shown = "held_preview" if partly else "preview"
                metadata[shown] = dg.MetadataValue.md(held_preview(table, dataset, batch))
                metadata["failing_rows"] = dg.MetadataValue.md(
                    failing_rows(table, dataset, batch, gate, report.started_at)
                )
            metadata["audit_branch"] = dg.MetadataValue.text(gate.branch or "")
            metadata["held_back_snapshot_id"] = dg.MetadataValue.text(str(gate.held_snapshot_id))
            metadata["held_back_files"] = dg.MetadataValue.md(
                "| file | rows | failed |\n|---|---|---|\n"
                + "\n".join(
                    f"| {f['file']} | {f['rows']} | {f.get('failed', 'the batch as a whole')} |"
                    for f in report.held_back
                )
            )
            metadata["failed_expectations"] = dg.MetadataValue.md("\n".join(map(_failure_line, gate.holding)))
            metadata = _held_first(metadata) if not partly else {**metadata}
    return metadata


def _failure_line(r: ExpectationResult) -> str:
    """`- name: 3 unexpected (1.5% of the batch)`, or the observed value of a check on the whole batch."""
    if r.unexpected_count is None:
        return f"- `{r.expectation.name}`: observed {r.observed_value}"
    percent, share = r.unexpected_percent, ""
    if percent is not None:  # 99.96, not 1e+02; a share under 0.01 % is not 0
        share = f" ({'<0.01' if 0 < percent < 0.01 else f'{round(percent, 2):g}'}% of the batch)"
    return f"- `{r.expectation.name}`: {r.unexpected_count} unexpected{share}"


def file_outcomes(report: IngestReport, root: str) -> dict[str, object]:
    """What became of each file of the batch, by label, compactly: the command line's per-file lines.

    A file published with nothing else to say is its row count (a 500-file run's event stays small);
    any other is a dict of `rows` (published), `set_apart`, `dropped`, `quarantined` (reason: message),
    `duplicate` and `held` (what its own rows failed; empty when the batch was held as a whole). A
    file of the run not listed was skipped (handled before, or gone).
    """
    out: dict[str, dict] = {}

    def of(uri: str) -> dict:
        return out.setdefault(key_label(uri, root), {})

    for f in report.ingested:
        out.setdefault(label(f["file"]), {})["rows"] = int(f["rows"])
    dropped = report.gate.dropped if report.gate else []
    for name, records in (("set_apart", report.rejected_rows), ("dropped", dropped)):
        for r in records:
            of(r.source_file)[name] = of(r.source_file).get(name, 0) + 1
    for q in report.quarantined:
        why = f"{q.reason}: {q.message.removeprefix(key_label(q.source_file, root) + ': ')}"
        of(q.source_file).setdefault("quarantined", []).append(why)
    for d in report.duplicates:
        of(d.source_file)["duplicate"] = 1
    for h in report.held_back:
        out.setdefault(h["file"], {})["held"] = h.get("failed", "")
    return {name: o["rows"] if o.keys() == {"rows"} else o for name, o in out.items()}


# What a held batch's observation shows first; main's counters (row count, files and bytes
# "ingested": zero, as nothing reached main) would read like an empty file, so they are left out.
HELD_FIRST = ("quality_gate", "rows_held", "audit_branch", "failed_expectations", "held_back_files")
NOT_FOR_HELD = ("dagster/row_count", "files_ingested", "bytes_ingested")


def _held_first(metadata: dict[str, object]) -> dict[str, object]:
    first = {k: metadata[k] for k in HELD_FIRST if k in metadata}
    rest = {k: v for k, v in metadata.items() if k not in first and k not in NOT_FOR_HELD}
    return first | rest
