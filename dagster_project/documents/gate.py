"""The chunk suite, judged per document: a failing chunk holds back its own document, not the batch.

A blocking expectation that rejects single rows (`no_residual_pii`, `embedding_finite`, ...) names
the chunks it rejects, and so their documents: those are held back (see `holds.py`) and the suite
is evaluated again on the rest. An expectation that judges the batch as a whole (a `mostly` ratio
such as `duplicate_ratio`) names no chunk, yet one bad document (a PDF whose extraction repeats
the same lines thousands of times) can fail it for a hundred good ones: when it still fails on the
rest, it is judged on each document's own chunks, the documents that fail it alone are held back,
and the rest is judged again. Only when the rest still fails as a whole (duplicates spread across
documents, none of which fails on its own) is the whole batch held back on its audit branch.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
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


def _judge(suite: Suite, chunks: pa.Table, dimension: int, now: datetime) -> GateReport:
    """The suite's report on `chunks` (an empty table passes: nothing goes to main)."""
    if chunks.num_rows == 0:
        return GateReport(suite)
    con = duckdb.connect()
    try:
        con.register(BATCH, _view(chunks, dimension))
        return _evaluate(con, suite, now)
    finally:
        con.close()


def _without(chunks: pa.Table, documents: Collection[str]) -> pa.Table:
    if not documents:
        return chunks
    return chunks.filter(pc.invert(pc.is_in(chunks["document_id"], pa.array(sorted(documents), pa.string()))))


def _first_rejected(con: duckdb.DuckDBPyConnection, e: Expectation, now: datetime) -> tuple[int, str] | None:
    """(row, chunk id) of the first row of BATCH that `e` rejects, or None when it names no row."""
    try:
        predicate = unexpected_predicate(e, BATCH, suite_parameters(now, None), con)
    except ValueError:
        return None
    rows = exp.select("file_row_number", "chunk_id").from_(BATCH).where(predicate).order_by("file_row_number")
    found = con.execute(rows.limit(1).sql("duckdb")).fetchone()
    return None if found is None else (int(found[0]), str(found[1]))


def _failures(con: duckdb.DuckDBPyConnection, report: GateReport, now: datetime) -> dict[str, Failure] | None:
    """document id -> its failure for the failed expectations that judge single rows.

    Returns None when one of them names no rows (the batch is judged as a whole). Failed
    expectations over the whole batch (`mostly` ratios) are left to `_own_failures`.
    """
    parameters = suite_parameters(now, None)
    first: dict[str, tuple[int, str]] = {}
    failed: dict[str, list[str]] = {}
    for result in report.failed:
        e = result.expectation
        if not _attributable(e):
            continue
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


def _own_failures(
    suite: Suite,
    chunks: pa.Table,
    expectations: list[Expectation],
    dimension: int,
    now: datetime,
    documents: Collection[str],
) -> dict[str, Failure]:
    """document id -> its failure, for the `documents` whose own chunks fail batch-wide `expectations`.

    Each document is judged alone: a document that fails a ratio by itself is the one to hold, while
    duplicates spread thinly across documents fail none of them. The failure's chunk is the first
    one the expectation rejects (for `duplicate_ratio`, the first chunk whose text repeats), else
    the document's first chunk.
    """
    suite = replace(suite, expectations=tuple(expectations))
    out: dict[str, Failure] = {}
    con = duckdb.connect()
    rows: dict[str, list[int]] = {}
    for i, document in enumerate(chunks["document_id"].to_pylist()):
        rows.setdefault(document, []).append(i)  # one pass, not one filter of the batch per document
    try:
        for document in documents:
            if document not in rows:
                continue
            own = chunks.take(pa.array(rows[document], pa.int64()))
            con.register(BATCH, _view(own, dimension))
            failed = [r.expectation for r in _evaluate(con, suite, now).failed]
            if failed:
                rejected = [f for f in (_first_rejected(con, e, now) for e in failed) if f is not None]
                chunk = min(rejected)[1] if rejected else str(own["chunk_id"][0])
                out[document] = Failure(tuple(e.name for e in failed), chunk)
            con.unregister(BATCH)
    finally:
        con.close()
    return out


def _documents(chunks: pa.Table) -> list[str]:
    """The batch's documents in the order their chunks come (the order they are reported in)."""
    return list(dict.fromkeys(chunks["document_id"].to_pylist()))


def judge(
    suite: Suite, batch: pa.Table, dimension: int, now: datetime, released: Collection[str]
) -> DocumentVerdict:
    """Evaluate the suite on a sync's chunks and decide, per document, what publishes.

    Documents whose chunks fail an expectation on single chunks are held first; an expectation
    over the whole batch that still fails on the rest holds the documents whose own chunks fail it;
    only when the rest still fails is the whole batch held back (`held` empty, `publish` = `batch`,
    `report` failed, so Write-Audit-Publish keeps it on its audit branch).

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
    whole = [r.expectation for r in report.failed if not _attributable(r.expectation)]
    if whole and failures:
        # A document held for its chunks also names the batch-wide expectations it fails on its own.
        for document, own in _own_failures(suite, batch, whole, dimension, now, list(failures)).items():
            named = failures[document].failed + tuple(
                n for n in own.failed if n not in failures[document].failed
            )
            failures[document] = Failure(named, failures[document].chunk_id)
    # Judge again what goes to main, leaving out the released documents' accepted failures.
    judged = _without(batch, failures)
    rest = _judge(suite, judged, dimension, now)
    if rest.failed:
        if any(_attributable(r.expectation) for r in rest.failed):
            return DocumentVerdict(report, publish=batch)  # not expected: rows failed only together
        still = [r.expectation for r in rest.failed]
        own = _own_failures(suite, judged, still, dimension, now, _documents(judged))
        if not own:
            return DocumentVerdict(report, publish=batch)  # spread across documents: hold the batch
        failures.update(own)
        judged = _without(judged, own)
        rest = _judge(suite, judged, dimension, now)
        if rest.failed:
            return DocumentVerdict(report, publish=batch)
    held = {d: f for d, f in failures.items() if d not in released}
    return DocumentVerdict(rest, held, _without(batch, held))
