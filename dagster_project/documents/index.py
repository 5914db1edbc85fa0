"""The vector index (embedded LanceDB) over curated.document_chunks, and retrieval with citations.

Iceberg is the source of truth; the index is a derived copy that is updated incrementally by each
sync (deleted documents out, new chunks in) and rebuilt from Iceberg whenever it does not match
the table's current snapshot (lost, copied from elsewhere, or written by another embedder).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from dagster_project.documents.ann import REFINE, has_ann, keep_ann
from dagster_project.documents.embed import Embedder, embed_checked
from dagster_project.documents.retrieve import FTS_COLUMN, retrieve
from dagster_project.documents.scope import Citation, SearchHit, SearchScope, scope_filter, withhold
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
ADD_ROWS = 1024  # chunks converted and added to the index at a time
# Said when the index has no chunk: none synced yet, or every document excluded or held back.
_EMPTY = (
    "no documents indexed yet: run `make demo` or materialize curated/document_chunks "
    "(held-back documents: `foundation held`)"
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class SearchError(FoundationError, ValueError):
    """A search cannot run: no index yet, or a malformed filter; the message says what to do."""


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


_SESSION = None  # lancedb's caches (index, metadata), one per process
_HIT_COLUMNS = ("chunk_id", "document_id", "path", "title", "position", "heading_path", "text", "context")
_HIT_COLUMNS += ("metadata",)


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

    global _SESSION
    if _SESSION is None:
        _SESSION = lancedb.Session()
    settings.vector_index_dir.mkdir(parents=True, exist_ok=True)
    # A new connection reads the index as it is now (another process may have synced it); the
    # shared session keeps the HNSW graph loaded between searches: 30 ms a search at 100,000
    # chunks went into loading it again.
    return lancedb.connect(str(settings.vector_index_dir), session=_SESSION)


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
    wanted = pa.array({p for p in batch["parent_id"].to_pylist() if p}, pa.string())
    found = batch.select(["chunk_id", "text"]).filter(pc.is_in(batch["chunk_id"], wanted))
    return dict(zip(found["chunk_id"].to_pylist(), found["text"].to_pylist(), strict=True))


def _dimension(batch: pa.Table) -> int | None:
    """The length of the first embedded chunk's vector, None when there is none."""
    lengths = pc.list_value_length(batch["embedding"])  # lengths only: filtering would copy the batch
    first = pc.index(pc.and_(pc.not_equal(batch["level"], "parent"), pc.is_valid(lengths)), True).as_py()
    return lengths[first].as_py() if first >= 0 else None


def _add(lance: Any, batch: pa.Table, parents: dict[str, str], dimension: int) -> None:
    """Add the batch's embedded chunks a slice at a time: rows as Python objects take ~10x Arrow's memory."""
    for piece in batch.to_batches(max_chunksize=ADD_ROWS):
        rows = _lance_rows(pa.Table.from_batches([piece]), parents)
        if rows:
            lance.add(pa.Table.from_pylist(rows, schema=_schema(dimension)), on_bad_vectors=BAD_VECTORS)


def rebuild_index(settings: Settings, table: Table) -> int:
    """Rebuild the index from curated.document_chunks on main; returns its row count."""
    dimension = int(table.properties.get("foundation.embedding.dimension", "0") or 0)
    data = table.scan().to_arrow() if table.current_snapshot() is not None else None
    db = _connect(settings)
    first = _dimension(data) if data is not None else None
    dimension = first or dimension
    mode = "overwrite" if LANCE_TABLE in db.list_tables().tables else "create"
    lance = db.create_table(LANCE_TABLE, schema=_schema(max(dimension, 1)), mode=mode)
    if first:
        _add(lance, data, _parents(table, data), dimension)
    _index_text(lance)
    _write_state(settings, table, dimension)
    count = lance.count_rows()
    keep_ann(settings, lance, count)
    return count


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
    first = _dimension(added)
    if first:
        _add(lance, added, _parents(table, added), first)
    _index_text(lance)
    _write_state(settings, table, int(state.get("dimension") or first or 0))
    count = lance.count_rows()
    keep_ann(settings, lance, count)
    return count


def indexed_snapshot(settings: Settings) -> int | None:
    """The snapshot of curated.document_chunks the index was last brought in line with."""
    return _read_state(settings).get("snapshot_id")


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


def _filter(where: dict[str, str], scope: SearchScope | None = None) -> str | None:
    clauses = scope_filter(scope) if scope else []
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
    scope: SearchScope | None = None,
) -> list[SearchHit]:
    """The `k` chunks nearest to the question, best first, each with its citation.

    This is the search itself, with no persona and no audit record: users and services go
    through `governance.search.search_as` (what `foundation search --as` runs).

    Args:
        settings: Where the catalog and the index are.
        question: Free text.
        k: How many chunks.
        where: Filters: `document_id`, `path`, `media_type`, `title`, or sidecar attributes.
        embedder: The embedder the chunks were embedded with (default: the configured one).
        scope: Only chunks of the documents it admits, without the fields it withholds.

    Raises:
        SearchError: No documents have been indexed yet, or k < 1.
    """
    if k < 1:
        raise SearchError(f"-k {k}: ask for at least 1 result")
    catalog = open_catalog(settings)
    try:  # one load: table_exists would read the table's metadata file too
        table = catalog.load_table(CHUNKS_TABLE)
    except NoSuchTableError:
        raise SearchError(_EMPTY) from None
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
        from dagster_project.documents.query_embed import load_query_embedder

        embedder = load_query_embedder(settings.embedder)
    model = table.properties.get("foundation.embedding.model")
    if model and model != embedder.name:
        raise SearchError(
            f"{CHUNKS_TABLE} was embedded with {model!r} but the embedder is {embedder.name!r}; "
            "set FOUNDATION_EMBEDDER to the same embedder, or re-sync the documents with this one"
        )
    vector = embed_checked(embedder, [question])[0]
    hits = []
    # Hits read every column but the vector (1.5 KB a hit that nobody reads); with the approximate
    # index, candidates are re-ranked by their exact vectors.
    for r in retrieve(
        lance,
        question,
        vector,
        k=k,
        condition=_filter(where or {}, scope),
        mode=settings.search_mode,
        columns=_HIT_COLUMNS,
        refine=REFINE if has_ann(lance) else None,
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
    return [withhold(h, scope.withheld) for h in hits] if scope and scope.withheld else hits
