"""The chunk suite, judged per document: a failing chunk holds back its own document, not the batch.

A blocking expectation that rejects single rows (`no_residual_pii`, `embedding_finite`, ...) names
the chunks it rejects, and so their documents: those are held back (see `holds.py`) and the suite
is evaluated again on the rest. An expectation that judges the batch as a whole (a `mostly` ratio
such as `duplicate_ratio`) names no chunk, yet one bad document (a PDF whose extraction repeats
the same lines thousands of times) can fail it for a hundred good ones: when it still fails on the
rest, it is judged on each document's own chunks, the documents that fail it alone are held back,
and the rest is judged again. Only when the rest still fails as a whole (duplicates spread across
documents, none of which fails on its own) is the whole batch held back on its audit branch. The
rule is shared with the raw tables (files for documents): `quality/groups.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from dagster_project.quality.engine import evaluate, unexpected_predicate
from dagster_project.quality.gate import GateReport, suite_parameters
from dagster_project.quality.groups import judge_groups
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
    finally:
        con.close()
    if not report.failed:
        return DocumentVerdict(report, publish=batch)
    rows: dict[str, list[int]] = {}
    for i, document in enumerate(batch["document_id"].to_pylist()):
        rows.setdefault(document, []).append(i)  # one pass, not one filter of the batch per document

    def part(only: Collection[str] | None, without: Collection[str]) -> pa.Table:
        if only is None:
            return _without(batch, without)
        take = sorted(i for d in only if d not in without for i in rows.get(d, []))
        return batch.take(pa.array(take, pa.int64()))

    def rejected(e: Expectation, only: str | None) -> dict[str, tuple[int, str]] | None:
        chunks = part(None if only is None else [only], ())
        con = duckdb.connect()
        try:
            con.register(BATCH, _view(chunks, dimension))
            try:
                predicate = unexpected_predicate(e, BATCH, suite_parameters(now, None), con)
            except ValueError:
                return None
            query = exp.select("document_id", "chunk_id", "file_row_number").from_(BATCH).where(predicate)
            first: dict[str, tuple[int, str]] = {}
            for document, chunk, row in con.execute(query.sql("duckdb")).fetchall():
                first[document] = min((int(row), str(chunk)), first.get(document, (int(row), str(chunk))))
            return first
        finally:
            con.close()

    def failing(
        expectations: Sequence[Expectation] | None, only: Collection[str] | None, without: Collection[str]
    ) -> list[Expectation]:
        judged = suite if expectations is None else replace(suite, expectations=tuple(expectations))
        return [r.expectation for r in _judge(judged, part(only, without), dimension, now).failed]

    groups = judge_groups([r.expectation for r in report.failed], _documents(batch), rejected, failing)
    if groups is None:
        return DocumentVerdict(report, publish=batch)  # no document to blame: hold the batch
    # A failure naming no chunk of the document (a ratio) points at the document's first chunk.
    failures = {
        d: Failure(f.failed, f.first if f.first is not None else str(batch["chunk_id"][rows[d][0]]))
        for d, f in groups.items()
    }
    # Judge again what goes to main, leaving out the released documents' accepted failures.
    rest = _judge(suite, _without(batch, failures), dimension, now)
    held = {d: f for d, f in failures.items() if d not in released}
    return DocumentVerdict(rest, held, _without(batch, held))
