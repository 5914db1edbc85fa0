"""Held documents: the decisions log `ops.document_holds` (review.py releases or discards one).

A document version (checksum, chunker, embedder) whose chunks failed a blocking expectation is
recorded once as `held`, with the expectations and the first failing chunk. A reviewer then
appends `released` (its chunks publish, failures accepted) or `discarded` (it stays out); a
newer version of the document appends `superseded` and is judged afresh.

Why an append-only log of decisions: each decision is one Iceberg commit of one row whose id is
a hash of (document, version, decision), written with `append_once`, so a rerun or a concurrent
run records it at most once, and the state of a version is simply its decisions. The held chunks
themselves are not kept: they are a pure function of the document version, so a release
re-chunks and re-embeds that one document (the sync does it), and a rerun while held embeds
nothing because held and discarded versions are skipped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import In
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import StringType, TimestamptzType

from dagster_project import faults
from dagster_project.documents.tables import CHUNKS_TABLE
from dagster_project.lakehouse.ops_tables.append import append_once
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_safely
from dagster_project.lakehouse.review import NotHeld
from dagster_project.lakehouse.tables import ensure_table, open_catalog, optional_field
from dagster_project.settings import Settings

HOLDS_TABLE = "ops.document_holds"
DOCUMENTS_TARGET = "curated.documents"  # what `foundation release|discard` names for a document
HELD, RELEASED, DISCARDED, SUPERSEDED = "held", "released", "discarded", "superseded"
# (checksum, chunker fingerprint, embedder name): what a document's chunks are a function of.
Version = tuple[str, str, str]


HOLDS_SCHEMA = Schema(
    optional_field(1, "hold_id", StringType(), "Stable id: hash of document, version and decision."),
    optional_field(2, "document_id", StringType(), "The document (curated.documents.document_id)."),
    optional_field(3, "path", StringType(), "Landing key of its source file."),
    optional_field(4, "checksum", StringType(), "The raw.documents version judged."),
    optional_field(5, "chunker", StringType(), "Chunking options fingerprint of that version."),
    optional_field(6, "embedding_model", StringType(), "Embedder of that version."),
    optional_field(7, "decision", StringType(), "held, released, discarded or superseded."),
    optional_field(8, "failed", StringType(), "Blocking expectations its chunks failed (comma-separated)."),
    optional_field(9, "chunk_id", StringType(), "The first chunk that failed."),
    optional_field(10, "reason", StringType(), "Why it is held, in words."),
    optional_field(11, "run_id", StringType(), "Dagster run (or CLI call) that decided."),
    optional_field(12, "via", StringType(), "Who decided: the sync, `cli`, or `run <id>` of a review job."),
    optional_field(13, "decided_at", TimestamptzType(), "When (UTC)."),
)


@dataclass(frozen=True)
class HeldDocument:
    """A document version held back by its chunks, waiting for review."""

    document_id: str
    path: str
    version: Version
    failed: tuple[str, ...]
    chunk_id: str
    reason: str
    run_id: str
    held_at: datetime | None


def holds_table(catalog: Catalog) -> Table:
    return ensure_table(catalog, HOLDS_TABLE, HOLDS_SCHEMA)


def held_reason(failed: Iterable[str], chunk_id: str) -> str:
    """The reason recorded for a held document (curated.documents.reason, the asset, the CLI)."""
    return f"held back: {', '.join(failed)} failed on chunk {chunk_id}"


def _hold_id(document_id: str, version: Version, decision: str, held_by: str) -> str:
    """One row per (hold, decision): `held_by` is the run that held the version (a revert holds anew)."""
    key = "\x1f".join((document_id, *version, decision, held_by))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _rows(catalog: Catalog, documents: Iterable[str] | None = None) -> list[dict]:
    if not catalog.table_exists(HOLDS_TABLE):
        return []
    table = catalog.load_table(HOLDS_TABLE)
    if table.current_snapshot() is None:
        return []
    scan = (
        table.scan(row_filter=In("document_id", sorted(documents))) if documents is not None else table.scan()
    )
    return scan.to_arrow().sort_by("decided_at").to_pylist()


def _version(row: Mapping) -> Version:
    return (row["checksum"], row["chunker"], row["embedding_model"])


def decisions(catalog: Catalog) -> dict[str, tuple[Version, str, dict]]:
    """document id -> (version, state, its `held` row) for each document's latest held version.

    The state is `held` until a later decision on that version: the first of released, discarded
    or superseded wins (a release and a discard that raced: whichever committed first). A version
    held again after it was superseded (the document changed, then changed back) is held anew.
    """
    state: dict[tuple[str, Version], tuple[str, dict]] = {}
    latest: dict[str, tuple[str, Version]] = {}
    for row in _rows(catalog):
        key = (row["document_id"], _version(row))
        if row["decision"] == HELD:
            if key not in state or state[key][0] == SUPERSEDED:
                state[key] = (HELD, row)
            latest[row["document_id"]] = key
        elif key in state and state[key][0] == HELD:
            state[key] = (row["decision"], state[key][1])
    return {doc: (key[1], *state[key]) for doc, key in latest.items()}


def as_held(row: dict) -> HeldDocument:
    """A `held` row of the log as a HeldDocument."""
    failed = tuple(f for f in (row["failed"] or "").split(",") if f)
    return HeldDocument(
        row["document_id"],
        row["path"],
        _version(row),
        failed,
        row["chunk_id"],
        row["reason"],
        row["run_id"],
        row["decided_at"],
    )


def held_documents(settings: Settings) -> list[HeldDocument]:
    """The documents held back now, waiting for `release` or `discard`, by document id."""
    found = decisions(open_catalog(settings))
    return [as_held(row) for doc, (_, state, row) in sorted(found.items()) if state == HELD]


def record(catalog: Catalog, rows: list[dict]) -> int:
    """Append rows of `new_hold` or `decision_row`, each at most once; returns how many were new."""
    if not rows:
        return 0
    now = datetime.now(UTC)
    full = [{**r, "decided_at": now} for r in rows]
    table = holds_table(catalog)
    batch = pa.Table.from_pylist(full, schema=table.schema().as_arrow())
    faults.reached("holds.before_append")
    return append_once(
        table, batch, id_column="hold_id", scope=In("document_id", sorted({r["document_id"] for r in rows}))
    )


def decision_row(held: HeldDocument, decision: str, *, run_id: str, via: str) -> dict:
    """A decision (released, discarded, superseded) on a held version, as a row for `record`."""
    checksum, chunker, model = held.version
    return {
        "hold_id": _hold_id(held.document_id, held.version, decision, held.run_id),
        "document_id": held.document_id,
        "path": held.path,
        "checksum": checksum,
        "chunker": chunker,
        "embedding_model": model,
        "decision": decision,
        "failed": ",".join(held.failed),
        "chunk_id": held.chunk_id,
        "reason": held.reason,
        "run_id": run_id,
        "via": via,
    }


def new_hold(doc: dict[str, Any], version: Version, failure: Any, *, run_id: str) -> dict[str, Any]:
    """The `held` row of a document version whose chunks failed (`failure`: a gate.Failure)."""
    checksum, chunker, model = version
    return {
        "hold_id": _hold_id(doc["document_id"], version, HELD, run_id),
        "document_id": doc["document_id"],
        "path": doc["path"],
        "checksum": checksum,
        "chunker": chunker,
        "embedding_model": model,
        "failed": ",".join(failure.failed),
        "chunk_id": failure.chunk_id,
        "reason": held_reason(failure.failed, failure.chunk_id),
        "decision": HELD,
        "run_id": run_id,
        "via": "sync",
    }


def reviewed(
    catalog: Catalog, wanted: Mapping[str, Version], run_id: str
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Documents whose current version waits (held) or was discarded, and those released after review.

    A held or discarded version is not chunked or embedded again; a hold of an older version of a
    document (it changed, or left the index) is recorded as superseded, and the new one is judged.

    Returns:
        document id -> (status, reason) of the waiting ones; the released document ids.
    """
    waiting: dict[str, tuple[str, str]] = {}
    released: set[str] = set()
    stale = []
    for doc, (version, state, row) in decisions(catalog).items():
        current = wanted.get(doc) == version
        if state == HELD and not current:
            stale.append(decision_row(as_held(row), SUPERSEDED, run_id=run_id, via="sync"))
        elif current and state == HELD:
            waiting[doc] = ("held", row["reason"])
        elif current and state == DISCARDED:
            waiting[doc] = ("discarded", f"discarded after review ({row['reason']})")
        elif current and state == RELEASED:
            released.add(doc)
    record(catalog, stale)
    return waiting, released


def decide(settings: Settings, document_id: str, decision: str, *, via: str, run_id: str | None) -> str:
    """Record a reviewer's decision on a held document (and audit it); the run id it is recorded under.

    Raises:
        NotHeld: The document is not held back.
    """
    pending = {h.document_id: h for h in held_documents(settings)}
    held = pending.get(document_id)
    if held is None:
        raise NotHeld(
            f"{DOCUMENTS_TARGET}: document {document_id!r} is not held back (any more); "
            "see `foundation held` for the held documents"
        )
    run_id = run_id or f"review-{uuid.uuid4().hex[:12]}"
    record(open_catalog(settings), [decision_row(held, decision, run_id=run_id, via=via)])
    verb = "release" if decision == RELEASED else "discard"
    record_safely(
        settings,
        [
            AuditEvent(
                verb,
                [CHUNKS_TABLE],
                statement=f"{verb} of held-back document {document_id} (checksum {held.version[0][:12]}; "
                f"{', '.join(held.failed)} failed on chunk {held.chunk_id})",
                run_id=held.run_id,
                message=f"{decision} after review (via {via})",
            )
        ],
    )
    return run_id
