"""The vector index (embedded LanceDB) over curated.document_chunks, and retrieval with citations.

Iceberg is the source of truth; the index is a derived copy that is updated incrementally by each
sync (deleted documents out, new chunks in) and rebuilt from Iceberg whenever it does not match
the table's current snapshot (lost, copied from elsewhere, or written by another embedder).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.table import Table

from dagster_project.documents.embed import Embedder, embed_checked
from dagster_project.documents.retrieve import FTS_COLUMN, retrieve
from dagster_project.documents.tables import CHUNKS_TABLE
from dagster_project.errors import FoundationError
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import main_head
from dagster_project.settings import Settings

LANCE_TABLE = "document_chunks"
STATE_FILE = "state.json"
# The index's columns and indexes; an index written with another layout is rebuilt from Iceberg.
# 2: `search_text` and its BM25 full-text index.
LAYOUT = 2
# Rows added since the full-text index was built are searched by a scan (exact, but slower): past
# this share of the table, a sync folds them into the index.
UNINDEXED_SHARE = 0.1
# Columns a --where key=value filter compares directly; any other key is a sidecar attribute.
FILTER_COLUMNS = ("document_id", "path", "media_type", "title")
# A chunk whose vector is not finite can only be on main when a reviewer released its document
# (the gate holds it otherwise): it stays in Iceberg, but the index cannot search it.
BAD_VECTORS = "drop"
# Said when the index has no chunk: none synced yet, or every document excluded or held back.
_EMPTY = (
    "no documents indexed yet: run `make demo` or materialize curated/document_chunks "
    "(held-back documents: `foundation held`)"
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class SearchError(FoundationError, ValueError):
    """A search cannot run: no index yet, or a malformed filter; the message says what to do."""


@dataclass(frozen=True)
class Citation:
    """Where a retrieved chunk comes from."""

    source_file: str  # landing key, e.g. documents/shipping.md
    title: str
    heading_path: list[str]
    position: int
    document_id: str
    chunk_id: str

    def __str__(self) -> str:
        heading = " > ".join(self.heading_path) or self.title
        return f"{self.source_file} § {heading} (chunk {self.position})"


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk: score, text, citation and (for a child) its parent's text.

    The score is the cosine similarity in vector mode, the fused rank score in hybrid mode (see
    `retrieve.retrieve`); both are at most 1 and fall as the list goes down.
    """

    score: float
    text: str
    citation: Citation
    context: str | None = None
    metadata: dict[str, str] | None = None


def _lance_rows(batch: pa.Table, parents: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for r in batch.to_pylist():
        if r["level"] == "parent" or r["embedding"] is None:
            continue
        attributes = json.loads(r["metadata"] or "{}")
        rows.append(
            {
                "chunk_id": r["chunk_id"],
                "document_id": r["document_id"],
                "path": r["path"],
                "title": r["title"] or "",
                "media_type": r["media_type"] or "",
                "position": int(r["position"]),
                "heading_path": list(r["heading_path"] or []),
                "text": r["text"],
                # What BM25 ranks: the title and headings too, where identifiers such as a
                # ticket number often stand only once for all of a document's chunks.
                FTS_COLUMN: _search_text(r["title"] or "", list(r["heading_path"] or []), r["text"]),
                "context": parents.get(r["parent_id"] or "", None),
                "metadata": r["metadata"] or "{}",
                "attributes": [f"{k}={v}" for k, v in sorted(attributes.items())],
                "vector": r["embedding"],
            }
        )
    return rows


def _search_text(title: str, heading_path: list[str], text: str) -> str:
    headings = heading_path if heading_path[:1] == [title] else [title, *heading_path]
    return "\n".join([*(h for h in headings if h), text])


def _schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            ("chunk_id", pa.string()),
            ("document_id", pa.string()),
            ("path", pa.string()),
            ("title", pa.string()),
            ("media_type", pa.string()),
            ("position", pa.int32()),
            ("heading_path", pa.list_(pa.string())),
            ("text", pa.string()),
            (FTS_COLUMN, pa.string()),
            ("context", pa.string()),
            ("metadata", pa.string()),
            ("attributes", pa.list_(pa.string())),
            ("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def _connect(settings: Settings):  # noqa: ANN202 - lancedb is imported lazily
    import lancedb

    settings.vector_index_dir.mkdir(parents=True, exist_ok=True)
    return lancedb.connect(str(settings.vector_index_dir))


def _state_path(settings: Settings) -> Path:
    return settings.vector_index_dir / STATE_FILE


def _read_state(settings: Settings) -> dict[str, Any]:
    try:
        state = json.loads(_state_path(settings).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    # An index of another layout counts as none, so that sync and search rebuild it.
    return state if state.get("layout") == LAYOUT else {}


def _index_text(lance: Any) -> None:
    """Build the BM25 full-text index if missing; fold in rows added since, past a share of the table.

    Rows added after the index was built are still found (LanceDB scans them) and deleted rows
    are never returned, so the index only needs updating for speed.
    """
    from lancedb.index import FTS

    indexed = next((i for i in lance.list_indices() if FTS_COLUMN in i.columns), None)
    if indexed is None:
        if lance.count_rows() > 0:
            lance.create_index(FTS_COLUMN, config=FTS(), replace=True)
        return
    stats = lance.index_stats(indexed.name)
    if stats and stats.num_unindexed_rows > UNINDEXED_SHARE * max(stats.num_indexed_rows, 1):
        lance.optimize()


def _parents(table: Table, batch: pa.Table) -> dict[str, str]:
    wanted = {p for p in batch["parent_id"].to_pylist() if p}
    return {r["chunk_id"]: r["text"] for r in batch.to_pylist() if r["chunk_id"] in wanted}


def rebuild_index(settings: Settings, table: Table) -> int:
    """Rebuild the index from curated.document_chunks on main; returns its row count."""
    dimension = int(table.properties.get("foundation.embedding.dimension", "0") or 0)
    data = table.scan().to_arrow() if table.current_snapshot() is not None else None
    db = _connect(settings)
    rows = _lance_rows(data, _parents(table, data)) if data is not None else []
    if rows:
        dimension = len(rows[0]["vector"])
    mode = "overwrite" if LANCE_TABLE in db.list_tables().tables else "create"
    lance = db.create_table(LANCE_TABLE, schema=_schema(max(dimension, 1)), mode=mode)
    if rows:
        lance.add(pa.Table.from_pylist(rows, schema=_schema(dimension)), on_bad_vectors=BAD_VECTORS)
    _index_text(lance)
    _write_state(settings, table, dimension)
    return lance.count_rows()


def _write_state(settings: Settings, table: Table, dimension: int) -> None:
    state = {
        "layout": LAYOUT,
        "snapshot_id": main_head(table),
        "dimension": dimension,
        "model": table.properties.get("foundation.embedding.model", ""),
    }
    _state_path(settings).write_text(json.dumps(state), encoding="utf-8")


def sync_index(settings: Settings, table: Table, *, removed: list[str], added: pa.Table) -> int:
    """Apply one sync's changes to the index (or rebuild it if it is behind); returns its row count."""
    table.refresh()
    state = _read_state(settings)
    db = _connect(settings)
    parent_snapshot = None
    head = main_head(table)
    if head is not None:
        snapshot = table.metadata.snapshot_by_id(head)
        parent_snapshot = snapshot.parent_snapshot_id if snapshot else None
    # Incremental only when these changes are exactly what main gained since the index was
    # written: a sync that stopped after its publish left main ahead with no changes to apply.
    changes = bool(removed) or added.num_rows > 0
    indexed = state.get("snapshot_id")
    incremental = (
        LANCE_TABLE in db.list_tables().tables
        and indexed is not None
        and ((indexed == head and not changes) or (indexed == parent_snapshot and changes))
    )
    if not incremental:
        return rebuild_index(settings, table)
    lance = db.open_table(LANCE_TABLE)
    if removed:
        listing = ", ".join("'" + d.replace("'", "''") + "'" for d in removed)
        lance.delete(f"document_id IN ({listing})")
    rows = _lance_rows(added, _parents(table, added))
    if rows:
        lance.add(
            pa.Table.from_pylist(rows, schema=_schema(len(rows[0]["vector"]))), on_bad_vectors=BAD_VECTORS
        )
    _index_text(lance)
    _write_state(settings, table, int(state.get("dimension") or (len(rows[0]["vector"]) if rows else 0)))
    return lance.count_rows()


def parse_where(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings as a dict.

    Raises:
        SearchError: A pair without `=` or with an unusable key.
    """
    where = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _KEY.match(key.strip()):
            raise SearchError(f"--where {pair!r}: use key=value, e.g. --where department=legal")
        where[key.strip()] = value.strip()
    return where


def _filter(where: dict[str, str]) -> str | None:
    clauses = []
    for key, value in where.items():
        quoted = "'" + value.replace("'", "''") + "'"
        if key in FILTER_COLUMNS:
            clauses.append(f"{key} = {quoted}")
        else:
            pair = "'" + f"{key}={value}".replace("'", "''") + "'"
            clauses.append(f"array_has_any(attributes, [{pair}])")
    return " AND ".join(clauses) or None


def search(
    settings: Settings,
    question: str,
    *,
    k: int = 5,
    where: dict[str, str] | None = None,
    embedder: Embedder | None = None,
) -> list[SearchHit]:
    """The `k` chunks nearest to the question, best first, each with its citation.

    Args:
        settings: Where the catalog and the index are.
        question: Free text.
        k: How many chunks.
        where: Filters: `document_id`, `path`, `media_type`, `title`, or sidecar attributes.
        embedder: The embedder the chunks were embedded with (default: the configured one).

    Raises:
        SearchError: No documents have been indexed yet, or k < 1.
    """
    if k < 1:
        raise SearchError(f"-k {k}: ask for at least 1 result")
    catalog = open_catalog(settings)
    if not catalog.table_exists(CHUNKS_TABLE):
        raise SearchError(_EMPTY)
    table = catalog.load_table(CHUNKS_TABLE)
    db = _connect(settings)
    if (
        _read_state(settings).get("snapshot_id") != main_head(table)
        or LANCE_TABLE not in db.list_tables().tables
    ):
        rebuild_index(settings, table)
    lance = db.open_table(LANCE_TABLE)
    if lance.count_rows() == 0:  # before loading the embedder: nothing to search
        raise SearchError(_EMPTY)
    if embedder is None:
        from dagster_project.documents.embed import load_embedder

        embedder = load_embedder(settings.embedder)
    model = table.properties.get("foundation.embedding.model")
    if model and model != embedder.name:
        raise SearchError(
            f"{CHUNKS_TABLE} was embedded with {model!r} but the embedder is {embedder.name!r}; "
            "set FOUNDATION_EMBEDDER to the same embedder, or re-sync the documents with this one"
        )
    vector = embed_checked(embedder, [question])[0]
    hits = []
    for r in retrieve(
        lance, question, vector, k=k, condition=_filter(where or {}), mode=settings.search_mode
    ):
        citation = Citation(
            r["path"],
            r["title"],
            list(r["heading_path"] or []),
            r["position"],
            r["document_id"],
            r["chunk_id"],
        )
        hits.append(
            SearchHit(
                round(float(r["_score"]), 4),
                r["text"],
                citation,
                r["context"],
                json.loads(r["metadata"] or "{}"),
            )
        )
    return hits
