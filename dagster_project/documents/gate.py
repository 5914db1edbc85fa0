"""The chunk suite, judged per document: a failing chunk holds back its own document, not the batch.

A blocking expectation that rejects single rows (`no_residual_pii`, `embedding_finite`, ...) names
the chunks it rejects, and so their documents: those are held back (see `holds.py`) and the suite
is evaluated again on the rest, which publishes. An expectation that judges the batch as a whole
(a `mostly` ratio, an aggregate) names no document: when one of those fails, the whole batch is
held back on its audit branch as before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from dagster_project.quality.engine import evaluate, unexpected_predicate
from dagster_project.quality.gate import GateReport, suite_parameters
from dagster_project.quality.suites import Expectation, Suite, load_suite

BATCH = "batch"


@dataclass(frozen=True)
class Failure:
    """Why one document is held back: the blocking expectations its chunks failed, and the first chunk."""

    failed: tuple[str, ...]
    chunk_id: str


@dataclass
class DocumentVerdict:
    """The suite's verdict on one sync's chunks.

    Attributes:
        report: The suite evaluated on the chunks that go to main (the batch's checks). When it
            failed, the whole batch is held back on its audit branch (nothing names a document).
        held: document id -> why, for the documents held back by their own chunks.
        publish: The chunks that go through Write-Audit-Publish (held documents' chunks removed).
    """

    report: GateReport
    held: dict[str, Failure] = field(default_factory=dict)
    publish: pa.Table | None = None


def chunk_suite(expectations_dir: Path) -> Suite | None:
    """The suite of curated.document_chunks (`expectations/curated.document_chunks.json`)."""
    from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE

    types = {f.name: str(f.field_type) for f in CHUNKS_SCHEMA.fields}  # Iceberg names: string, long
    return load_suite(CHUNKS_TABLE, types, expectations_dir)


def _view(batch: pa.Table, dimension: int) -> pa.Table:
    view = batch.append_column("filename", pa.array(batch["_source_file"].to_pylist(), pa.string()))
    view = view.append_column("file_row_number", pa.array(range(view.num_rows), pa.int64()))
    # The embedder's dimension, for the suite's dimension check (Iceberg lists have none).
    return view.append_column("expected_dimension", pa.array([dimension] * view.num_rows, pa.int32()))


def _attributable(e: Expectation) -> bool:
    """Whether a failure of `e` is the fault of the rows it rejects (not of a ratio over the batch)."""
    mostly = e.kwargs.get("mostly")
    return mostly is None or float(mostly) >= 1.0


def _evaluate(con: duckdb.DuckDBPyConnection, suite: Suite, now: datetime) -> GateReport:
    report = GateReport(suite)
    report.results = evaluate(
        con,
        list(suite.expectations),
        relation=BATCH,
        parameters=suite_parameters(now, None),
        pii_columns=set(),
    )
    return report


def _failures(con: duckdb.DuckDBPyConnection, report: GateReport, now: datetime) -> dict[str, Failure] | None:
    """document id -> its failure, or None when a failed expectation names no rows."""
    parameters = suite_parameters(now, None)
    first: dict[str, tuple[int, str]] = {}
    failed: dict[str, list[str]] = {}
    for result in report.failed:
        e = result.expectation
        if not _attributable(e):
            return None
        try:
            predicate = unexpected_predicate(e, BATCH, parameters, con)
        except ValueError:
            return None
        rows = exp.select("document_id", "chunk_id", "file_row_number").from_(BATCH).where(predicate)
        found = con.execute(rows.sql("duckdb")).fetchall()
        if not found:
            return None  # failed, yet no row to blame: judge the batch as a whole
        for document_id, chunk, row in found:
            failed.setdefault(document_id, [])
            if e.name not in failed[document_id]:
                failed[document_id].append(e.name)
            if document_id not in first or row < first[document_id][0]:
                first[document_id] = (row, chunk)
    return {d: Failure(tuple(names), first[d][1]) for d, names in failed.items()}


def judge(
    suite: Suite, batch: pa.Table, dimension: int, now: datetime, released: Collection[str]
) -> DocumentVerdict:
    """Evaluate the suite on a sync's chunks and decide, per document, what publishes.

    Args:
        suite: The chunk table's suite.
        batch: The new chunks (in curated.document_chunks' Arrow schema).
        dimension: The embedder's dimension.
        now: The sync's time (suite parameters).
        released: Documents whose current version a reviewer released: their failures are accepted.

    Returns:
        The verdict: the report of what publishes, the held documents, and the chunks to publish.
    """
    con = duckdb.connect()
    try:
        con.register(BATCH, _view(batch, dimension))
        report = _evaluate(con, suite, now)
        if not report.failed:
            return DocumentVerdict(report, publish=batch)
        failures = _failures(con, report, now)
    finally:
        con.close()
    if failures is None:
        return DocumentVerdict(report, publish=batch)
    held = {d: f for d, f in failures.items() if d not in released}
    publish = batch.filter(pc.invert(pc.is_in(batch["document_id"], pa.array(sorted(held), pa.string()))))
    # Judge again what goes to main, leaving out the released documents' accepted failures.
    judged = publish.filter(
        pc.invert(pc.is_in(publish["document_id"], pa.array(sorted(failures), pa.string())))
    )
    if judged.num_rows == 0:
        return DocumentVerdict(GateReport(suite), held, publish)
    con = duckdb.connect()
    try:
        con.register(BATCH, _view(judged, dimension))
        return DocumentVerdict(_evaluate(con, suite, now), held, publish)
    finally:
        con.close()
