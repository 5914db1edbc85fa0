"""Curated sync: current raw.documents → curated.documents and curated.document_chunks, incrementally.

Each run curates every current document (cheap: text only), then re-chunks and re-embeds only the
documents whose version, chunking options or embedder changed (their unchanged chunk texts take
their vectors from main or from the embedding cache, embed_cache.py), and removes the chunks of
documents that were deleted from the landing zone or are now excluded. The suite judges each
document on its chunks (gate.py): a failing one is held back alone (holds.py) and not embedded
again while it waits; the rest go through Write-Audit-Publish (`audit-<run id>`, then main).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import In
from pyiceberg.table import Table, Transaction

from dagster_project import faults
from dagster_project.documents import embed_cache, holds, on_ray
from dagster_project.documents.chunking import chunk_document, chunk_id
from dagster_project.documents.config import TABLE, DocumentsConfig
from dagster_project.documents.curate import normalise, quality_issues, redact
from dagster_project.documents.dedup import cluster, content_hash
from dagster_project.documents.embed import Embedder, embedding_input
from dagster_project.documents.gate import judge
from dagster_project.documents.ingest import landed_documents
from dagster_project.documents.tables import (
    CHUNKS_TABLE,
    DIMENSION_PROPERTY,
    DOCUMENTS_TABLE,
    MODEL_PROPERTY,
    as_table_arrow,
    chunks_table,
    documents_table,
)
from dagster_project.lakehouse.branches import owner_properties
from dagster_project.lakehouse.held import RunAlive
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_missing_publishes
from dagster_project.lakehouse.ops_tables.audit import record as record_audit
from dagster_project.lakehouse.publish import RUN_PROPERTY
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import (
    AuditFailed,
    Verdict,
    audited_publish,
    branch_commit,
    main_head,
    recover_unfinished,
)
from dagster_project.quality.gate import GateReport
from dagster_project.quality.suites import Suite
from dagster_project.settings import Settings


@dataclass
class SyncReport:
    """What one sync did: documents curated, chunks added and removed, and the gate's outcome."""

    documents: int = 0
    indexed: int = 0
    excluded: list[dict[str, str]] = field(default_factory=list)
    embedded_documents: list[str] = field(default_factory=list)
    removed_documents: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_embedded: int = 0
    embedding_cache_hits: int = 0
    chunks_total: int = 0
    pii_redactions: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    snapshot_id: int | None = None
    gate: GateReport | None = None
    index_rows: int = 0
    # Documents held back by their own chunks, or discarded after review (document, status, reason).
    held: list[dict[str, str]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    # Where chunking and embedding ran: "in-process", or the Ray cluster's description (on_ray.py).
    execution: str = on_ray.IN_PROCESS


def current_documents(settings: Settings, config: DocumentsConfig) -> list[dict[str, Any]]:
    """The latest raw.documents version of every document still in the landing zone."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(TABLE):
        return []
    table = catalog.load_table(TABLE)
    if table.current_snapshot() is None:
        return []
    present = {f.key for f in landed_documents(settings, config)[0]}
    # Each document's latest version is chosen on the small columns; then only those versions'
    # text is read, a batch at a time: the older versions of a big document are never all held.
    versions = table.scan(selected_fields=("document_id", "path", "_ingested_at")).to_arrow()
    chosen: dict[str, Any] = {}
    for row in versions.sort_by("_ingested_at").to_pylist():
        if row["path"] in present and row["document_id"] is not None:
            chosen[row["document_id"]] = row["_ingested_at"]
    latest: dict[str, dict[str, Any]] = {}
    if chosen:
        for batch in table.scan(row_filter=In("document_id", list(chosen))).to_arrow_batch_reader():
            keys = zip(batch["document_id"].to_pylist(), batch["_ingested_at"].to_pylist(), strict=True)
            picked = [i for i, (doc, at) in enumerate(keys) if chosen.get(doc, ...) == at]
            for row in batch.take(pa.array(picked, pa.int64())).to_pylist():
                latest[row["document_id"]] = row
    return [latest[k] for k in sorted(latest)]


def _curate(config: DocumentsConfig, raw: list[dict[str, Any]], report: SyncReport) -> list[dict[str, Any]]:
    docs = []
    for row in raw:
        text, removed = normalise(row["text"] or "")
        text, counts = redact(text, config.pii)
        for kind, n in counts.items():
            report.pii_redactions[kind] = report.pii_redactions.get(kind, 0) + n
        issues = quality_issues(text, config.quality)
        docs.append(
            {
                **{k: row[k] for k in ("document_id", "path", "checksum", "title", "media_type", "metadata")},
                "text": text,
                "content_hash": content_hash(text),
                "pii_redactions": json.dumps(counts, sort_keys=True),
                "boilerplate_lines_removed": removed,
                "quality_issues": issues,
                "warnings": row["warnings"],
                "_source_file": row["_source_file"],
            }
        )
    passing = [(d["document_id"], d["text"]) for d in docs if not d["quality_issues"]]
    clusters = cluster(passing, threshold=config.near_duplicate_threshold)
    for d in docs:
        member = clusters.get(d["document_id"])
        d["cluster_id"] = member.cluster_id if member else d["document_id"]
        d["duplicate_kind"] = member.kind if member else "unique"
        d["similarity"] = member.similarity if member else 1.0
        if d["quality_issues"]:
            d["status"], d["reason"] = "excluded", "quality: " + "; ".join(d["quality_issues"])
        elif member and not member.canonical:
            d["status"] = "excluded"
            d["reason"] = f"{member.kind} duplicate of {member.cluster_id} (similarity {member.similarity})"
        else:
            d["status"], d["reason"] = "indexed", None
    return docs


# What chunking reads of a curated document: all of it travels to the cluster on the Ray path.
CHUNK_INPUT = ("document_id", "path", "checksum", "title", "media_type", "metadata", "text", "_source_file")


def _chunk_rows(
    doc: dict[str, Any], config: DocumentsConfig, embedder_name: str, run_id: str, now: datetime
) -> list[dict[str, Any]]:
    """One document's chunk rows (embeddings still empty); a Ray task runs it on the cluster path."""
    options = config.chunking_for(doc["path"])
    chunks = chunk_document(doc["text"], options)
    ids = {c.position: chunk_id(doc["document_id"], c.position, c.text) for c in chunks}
    return [
        {
            "chunk_id": ids[c.position],
            "document_id": doc["document_id"],
            "path": doc["path"],
            "checksum": doc["checksum"],
            "title": doc["title"],
            "media_type": doc["media_type"],
            "position": c.position,
            "level": c.level,
            "parent_id": ids[c.parent_position] if c.parent_position is not None else None,
            "heading_path": c.heading_path,
            "text": c.text,
            "token_count": c.token_count,
            "metadata": doc["metadata"],
            "embedding": None,
            "embedding_model": embedder_name,
            "chunker": options.fingerprint(),
            "_source_file": doc["_source_file"],
            "_source_checksum": doc["checksum"],
            "_run_id": run_id,
            "_synced_at": now,
        }
        for c in chunks
    ]


def _existing_versions(table: Table) -> dict[str, tuple[str, str, str]]:
    """document id → (checksum, chunker, embedder) of the chunks on main."""
    if table.current_snapshot() is None:
        return {}
    rows = table.scan(selected_fields=("document_id", "checksum", "chunker", "embedding_model")).to_arrow()
    return {
        r["document_id"]: (r["checksum"], r["chunker"], r["embedding_model"])
        for r in rows.group_by(["document_id", "checksum", "chunker", "embedding_model"])
        .aggregate([])
        .to_pylist()
    }


def sync_documents(
    settings: Settings,
    config: DocumentsConfig,
    embedder: Embedder,
    *,
    run_id: str,
    suite: Suite | None = None,
    log: logging.Logger | None = None,
    alive: RunAlive | None = None,
) -> SyncReport:
    """Bring curated.documents and curated.document_chunks in line with the current raw documents.

    A sync that stopped anywhere (killed, crashed) is made good by the next one: it cleans up
    the unfinished audit, records the publish events the stopped one could not, and recomputes
    what is still missing from main, curated.documents and the vector index.

    Args:
        settings: Where the catalog and the vector index are.
        config: The documents configuration (chunking, quality, near-duplicates).
        embedder: Turns chunk text into vectors.
        run_id: The Dagster run (audit branch, lineage columns).
        suite: The chunk table's suite: the chunk changes go through Write-Audit-Publish.
        log: Where progress goes.
        alive: Whether another run is still running (see `recover_unfinished`).

    Returns:
        The report: `report.held` lists the documents held back by their own chunks;
        `report.gate.held_back` when a failure naming no chunk held the whole batch back (main,
        curated.documents and the vector index are then unchanged).
    """
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    now = datetime.now(UTC)
    report = SyncReport()
    catalog = open_catalog(settings)
    table = chunks_table(catalog)
    recover_unfinished(
        table,
        current_run_id=run_id,
        alive=alive,
        grace_seconds=settings.unfinished_audit_grace_seconds,
        logger=log,
    )
    record_missing_publishes(catalog, settings, table)
    if catalog.table_exists(DOCUMENTS_TABLE):
        record_missing_publishes(catalog, settings, catalog.load_table(DOCUMENTS_TABLE))
    docs = _curate(config, current_documents(settings, config), report)
    report.documents = len(docs)
    report.excluded = [{"document": d["document_id"], "reason": d["reason"]} for d in docs if d["reason"]]
    existing = _existing_versions(table)
    wanted = {
        d["document_id"]: (d["checksum"], config.chunking_for(d["path"]).fingerprint(), embedder.name)
        for d in docs
        if d["status"] == "indexed"
    }
    report.indexed = len(wanted)
    waiting, released = holds.reviewed(catalog, wanted, run_id)
    todo = [
        d
        for d in docs
        if d["document_id"] in wanted
        and d["document_id"] not in waiting
        and existing.get(d["document_id"]) != wanted[d["document_id"]]
    ]
    # A held version leaves the document's older chunks (if any) on main, as a held batch leaves main.
    removed = sorted(
        doc_id
        for doc_id, version in existing.items()
        if wanted.get(doc_id) != version and doc_id not in waiting
    )
    chunk = partial(_chunk_rows, config=config, embedder_name=embedder.name, run_id=run_id, now=now)
    # The cluster (when configured) cuts and embeds; the cache, the gate and every commit stay here.
    with on_ray.heavy_steps(settings, embedder, log, work=bool(todo)) as steps:
        rows = steps.chunk([{k: d[k] for k in CHUNK_INPUT} for d in todo], chunk)
        embedded = [r for r in rows if r["level"] != "parent"]
        report.seconds["curate_and_chunk"] = time.perf_counter() - started
        clock = time.perf_counter()
        # Unchanged chunk texts take their vectors from main or the cache: only new texts are embedded.
        known = embed_cache.published_vectors(table, [d["document_id"] for d in todo], embedder.name)
        vectors, cached = embed_cache.embed_cached(
            catalog,
            steps.embedder,
            [embedding_input(r["heading_path"], r["text"]) for r in embedded],
            known=known,
            run_id=run_id,
            log=log,
        )
    report.execution = steps.execution
    for r, v in zip(embedded, vectors, strict=True):
        r["embedding"] = v  # a row of the float32 array: Arrow copies it; a list of floats is 8x larger
    report.seconds["embed"] = time.perf_counter() - clock
    report.embedded_documents = [d["document_id"] for d in todo]
    report.removed_documents = removed
    report.chunks_added, report.chunks_embedded = len(rows), cached.embedded
    report.embedding_cache_hits = cached.cache_hits
    if cached.cached:  # the cache grows only here, so here is where it is kept bounded
        embed_cache.prune(catalog, timedelta(days=settings.embedding_cache_days), log)
    batch = as_table_arrow(table, rows)
    del rows, embedded, vectors  # Arrow holds the chunks now, in a fraction of the Python rows' memory
    if suite is not None:
        verdict = judge(suite, batch, embedder.dimension, now, released)
        report.gate, batch = verdict.report, verdict.publish
        by_id = {d["document_id"]: d for d in docs}
        held = sorted(verdict.held.items())
        holds.record(catalog, [holds.new_hold(by_id[doc], wanted[doc], f, run_id=run_id) for doc, f in held])
        waiting.update({doc: ("held", holds.held_reason(f.failed, f.chunk_id)) for doc, f in held})
        removed = [doc for doc in removed if doc not in verdict.held]
        report.chunks_added = batch.num_rows
    report.held = [
        {"document": doc, "status": st, "reason": why} for doc, (st, why) in sorted(waiting.items())
    ]
    for d in docs:
        if d["document_id"] in waiting:
            d["status"], d["reason"] = waiting[d["document_id"]]
    report.indexed = sum(d["status"] == "indexed" for d in docs)
    faults.reached("sync.staged")
    if batch.num_rows or removed:
        published = _write_audit_publish(table, batch, removed, run_id, report, log)
        if not published:
            return report
    _describe_embedder(table, embedder)
    chunk_counts: dict[str, int] = {}
    table.refresh()
    if table.current_snapshot() is not None:
        for doc_id in table.scan(selected_fields=("document_id",)).to_arrow()["document_id"].to_pylist():
            chunk_counts[doc_id] = chunk_counts.get(doc_id, 0) + 1
    report.chunks_total = sum(chunk_counts.values())
    report.published = sorted(chunk_counts)
    report.snapshot_id = main_head(table)
    curated = documents_table(catalog)
    curated_rows = as_table_arrow(
        curated,
        [
            {**d, "chunk_count": chunk_counts.get(d["document_id"], 0), "_run_id": run_id, "_synced_at": now}
            for d in docs
        ],
    )
    # One row per current document, replaced as a whole: it is small and always fully recomputed.
    # A sync that changed nothing commits nothing (and so publishes nothing to audit).
    events = []
    if not _unchanged(curated, curated_rows):
        properties = {RUN_PROPERTY: run_id}
        if curated.current_snapshot() is None:
            curated.append(curated_rows, snapshot_properties=properties)
        else:
            curated.overwrite(curated_rows, snapshot_properties=properties)
        curated.refresh()
        faults.reached("sync.documents_committed")
        events.append(
            AuditEvent(
                "publish",
                [DOCUMENTS_TABLE],
                {DOCUMENTS_TABLE: main_head(curated)},
                statement=f"document sync: {len(docs)} current document(s), replaced as a whole",
                run_id=run_id,
                rows=curated_rows.num_rows,
            )
        )
    if batch.num_rows or removed:
        events.insert(
            0,
            AuditEvent(
                "publish",
                [CHUNKS_TABLE],
                {CHUNKS_TABLE: report.snapshot_id},
                statement=f"document chunks: {batch.num_rows} added, documents removed: {len(removed)}",
                run_id=run_id,
                rows=batch.num_rows,
            ),
        )
    if events:
        record_audit(catalog, settings, events)
    from dagster_project.documents.index import sync_index

    clock = time.perf_counter()
    report.index_rows = sync_index(settings, table, removed=removed, added=batch)
    report.seconds["index"] = time.perf_counter() - clock
    report.seconds["total"] = time.perf_counter() - started
    return report


def _unchanged(curated: Table, rows: pa.Table) -> bool:
    """Whether curated.documents already holds these rows (bookkeeping columns aside)."""
    if curated.current_snapshot() is None:
        return False
    names = [n for n in rows.column_names if n not in ("_run_id", "_synced_at")]
    current = curated.scan(selected_fields=tuple(names)).to_arrow().select(names)
    if current.num_rows != rows.num_rows:
        return False
    return current.sort_by("document_id").to_pylist() == rows.select(names).sort_by("document_id").to_pylist()


def _describe_embedder(table: Table, embedder: Embedder) -> None:
    """Record the embedder of the chunks on main in the table's properties (search reads them)."""
    table.refresh()
    wanted = {DIMENSION_PROPERTY: str(embedder.dimension), MODEL_PROPERTY: embedder.name}
    if table.current_snapshot() is not None and any(
        table.metadata.properties.get(k) != v for k, v in wanted.items()
    ):
        with table.transaction() as tx:
            tx.set_properties(**wanted)


def _write_audit_publish(
    table: Table,
    batch: pa.Table,
    removed: list[str],
    run_id: str,
    report: SyncReport,
    log: logging.Logger,
) -> bool:
    """Delete the removed documents' chunks and append the new ones on `audit-<run id>`, then publish.

    Returns:
        Whether main now holds the changes (False: held back by the gate, branch and verdict kept).
    """
    properties = {RUN_PROPERTY: run_id, **owner_properties()}

    def write(branch: str, base: int) -> int:
        def fill(tx: Transaction) -> None:
            if removed:
                tx.delete(In("document_id", removed), snapshot_properties=properties, branch=branch)
            if batch.num_rows:
                tx.append(batch, snapshot_properties=properties, branch=branch)

        return branch_commit(table, branch, base, fill)

    def audit(branch: str, head: int) -> Verdict:
        gate = report.gate
        if gate is None or not gate.failed:
            return Verdict(True)
        gate.held_back, gate.branch, gate.held_snapshot_id = True, branch, head
        failed = tuple(r.expectation.name for r in gate.failed)
        return Verdict(False, "expectations failed: " + ", ".join(failed), failed)

    try:
        audited_publish(table, run_id, write=write, audit=audit, what="chunk changes")
    except AuditFailed as failed:
        log.warning("%s", failed)
        return False
    return True
