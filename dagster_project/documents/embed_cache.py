"""The embedding cache: vectors kept by (embedder name, exact embedding input), so a text is embedded once.

Why an Iceberg table in the `ops` namespace (`ops.embedding_cache`) and not a local file: it lives
wherever the catalog's warehouse lives (a local folder or S3), so every run on every machine sees
the same cache; appends are atomic commits, written with `append_once` (a row per key, a concurrent
run that embedded the same text adds nothing); and table maintenance (compaction, snapshot expiry,
orphan removal) covers it like every other table. A row is one key and one float32 vector as
bytes (4 bytes per dimension, 1.5 KiB for MiniLM).

The cache is written right after embedding, before the gate: a sync whose chunks are held back
(a document, or the whole batch) has paid for its vectors once; the next run, or a release, takes
them from here. Chunks already on main also give their vectors back (`published_vectors`), so an
edited document re-embeds only the chunks whose text changed, even with an empty cache.
Non-finite vectors are not kept: a broken embedder's output must not outlive the run.
Vectors older than `embedding_cache_days` are pruned by the sync (`prune`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import EqualTo, In, LessThan
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import BinaryType, IntegerType, NestedField, StringType, TimestamptzType

from dagster_project.documents.embed import Embedder, embed_checked, embedding_input
from dagster_project.errors import EnvironmentFailure
from dagster_project.lakehouse.branches import single_attempt
from dagster_project.lakehouse.ops_tables.append import append_once
from dagster_project.lakehouse.tables import ensure_table

CACHE_TABLE = "ops.embedding_cache"
CACHE_SCHEMA = Schema(
    NestedField(1, "cache_key", StringType(), required=False, doc="Hash of embedder name and input text."),
    NestedField(2, "embedding_model", StringType(), required=False, doc="Embedder name."),
    NestedField(3, "dimension", IntegerType(), required=False, doc="Vector length."),
    NestedField(4, "vector", BinaryType(), required=False, doc="float32 little-endian vector."),
    NestedField(5, "run_id", StringType(), required=False, doc="Run that embedded it."),
    NestedField(6, "cached_at", TimestamptzType(), required=False, doc="When (UTC); pruned by age."),
)


@dataclass
class EmbedStats:
    """Where one sync's vectors came from.

    Attributes:
        embedded: Chunks whose text went to the embedder in this run.
        cache_hits: Chunks whose vector came from the cache table or from their chunk row on main.
        from_main: Of the hits, those taken from chunk rows already on main.
        cached: New vectors written to the cache.
    """

    embedded: int = 0
    cache_hits: int = 0
    from_main: int = 0
    cached: int = 0


def cache_key(model: str, text: str) -> str:
    """The cache key of one embedding input for one embedder."""
    key = f"{model}\x1f{text}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def cache_table(catalog: Catalog) -> Table:
    return ensure_table(catalog, CACHE_TABLE, CACHE_SCHEMA)


def _vectors(keys: pa.Array, blobs: pa.Array, dimension: int) -> dict[str, np.ndarray]:
    found = {}
    for key, blob in zip(keys.to_pylist(), blobs.to_pylist(), strict=True):
        if blob is not None and len(blob) == 4 * dimension:
            found[key] = np.frombuffer(blob, dtype="<f4")
    return found


def lookup(catalog: Catalog, model: str, dimension: int, keys: Collection[str]) -> dict[str, np.ndarray]:
    """The cached vectors of `keys` for `model` (a key missing from the answer is not cached).

    The scan streams the model's rows and keeps the wanted ones, so memory holds only the hits.
    """
    if not keys or not catalog.table_exists(CACHE_TABLE):
        return {}
    table = catalog.load_table(CACHE_TABLE)
    if table.current_snapshot() is None:
        return {}
    wanted = pa.array(sorted(keys), pa.string())
    found: dict[str, np.ndarray] = {}
    scan = table.scan(row_filter=EqualTo("embedding_model", model), selected_fields=("cache_key", "vector"))
    for batch in scan.to_arrow_batch_reader():
        hits = batch.filter(pc.is_in(batch.column("cache_key"), value_set=wanted))
        if hits.num_rows:
            found.update(_vectors(hits.column("cache_key"), hits.column("vector"), dimension))
    return found


def store(
    catalog: Catalog, model: str, vectors: Mapping[str, np.ndarray], run_id: str, log: logging.Logger
) -> int:
    """Add vectors to the cache, each key at most once (safe when runs race); returns how many were new.

    A cache that cannot be written (other writers kept committing) costs only a re-embedding later:
    it is logged, and the sync goes on.
    """
    finite = {k: v for k, v in vectors.items() if np.isfinite(v).all()}
    if not finite:
        return 0
    table = cache_table(catalog)
    now = datetime.now(UTC)
    rows = pa.Table.from_pydict(
        {
            "cache_key": list(finite),
            "embedding_model": [model] * len(finite),
            "dimension": [len(v) for v in finite.values()],
            "vector": [np.asarray(v, dtype="<f4").tobytes() for v in finite.values()],
            "run_id": [run_id] * len(finite),
            "cached_at": [now] * len(finite),
        },
        schema=table.schema().as_arrow(),
    )
    try:
        return append_once(table, rows, id_column="cache_key", scope=In("cache_key", sorted(finite)))
    except EnvironmentFailure as exc:
        log.warning("%s: vectors not cached (the next run embeds them again): %s", CACHE_TABLE, exc)
        return 0


def published_vectors(table: Table, documents: Collection[str], model: str) -> dict[str, np.ndarray]:
    """Vectors of the chunks on main of `documents` embedded by `model`, by cache key."""
    if not documents or table.current_snapshot() is None:
        return {}
    rows = table.scan(
        row_filter=In("document_id", sorted(documents)) & EqualTo("embedding_model", model),
        selected_fields=("heading_path", "text", "embedding"),
    ).to_arrow()
    rows = rows.filter(pc.is_valid(rows["embedding"]))
    found = {}
    for path, text, vector in zip(
        rows["heading_path"].to_pylist(), rows["text"].to_pylist(), rows["embedding"].to_pylist(), strict=True
    ):
        key = cache_key(model, embedding_input(path or [], text or ""))
        found[key] = np.asarray(vector, dtype=np.float32)
    return found


def embed_cached(
    catalog: Catalog,
    embedder: Embedder,
    texts: Sequence[str],
    *,
    known: Mapping[str, np.ndarray],
    run_id: str,
    log: logging.Logger,
) -> tuple[np.ndarray, EmbedStats]:
    """Vectors for `texts` (embedding inputs): from `known`, then the cache, then the embedder.

    Each distinct text missing from both is embedded once, and its vector is cached before this
    returns, so a sync held back after this point does not embed it again.

    Args:
        catalog: Where the cache table is.
        embedder: The embedder (its name is part of every key: another model misses).
        texts: The embedding inputs, one per chunk.
        known: Vectors by cache key already at hand (`published_vectors`).
        run_id: The run, recorded with the vectors it embeds.
        log: Where the counts (and the cache's problems) go.

    Returns:
        One float32 row per text, and where they came from.

    Raises:
        EmbedderError: The embedder returned vectors of the wrong shape.
    """
    stats = EmbedStats()
    keys = [cache_key(embedder.name, t) for t in texts]
    found = {k: v for k, v in known.items() if len(v) == embedder.dimension}
    stats.from_main = sum(k in found for k in keys)
    missing = {k for k in keys if k not in found}
    found.update(lookup(catalog, embedder.name, embedder.dimension, missing))
    todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
    if todo:
        fresh = embed_checked(embedder, list(todo.values()))
        new = dict(zip(todo, fresh, strict=True))
        stats.cached = store(catalog, embedder.name, new, run_id, log)
        found.update(new)
    stats.embedded = sum(k in todo for k in keys)
    stats.cache_hits = len(keys) - stats.embedded
    log.info(
        "embedding: %d chunk(s) embedded, %d cache hit(s) (%d from chunks on main), %d vector(s) cached",
        stats.embedded,
        stats.cache_hits,
        stats.from_main,
        stats.cached,
    )
    if not keys:
        return np.zeros((0, embedder.dimension), dtype=np.float32), stats
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False), stats


def prune(catalog: Catalog, older_than: timedelta, log: logging.Logger) -> bool:
    """Delete cached vectors older than `older_than`; returns whether anything was deleted.

    Tried once: on a concurrent commit it gives way, and the next sync prunes. Chunks on main keep
    their own vectors, so pruning only costs re-embedding texts that are not on main any more.
    """
    if not catalog.table_exists(CACHE_TABLE):
        return False
    table = catalog.load_table(CACHE_TABLE)
    old = LessThan("cached_at", (datetime.now(UTC) - older_than).isoformat())
    # Planning prunes files by their cached_at bounds: usually nothing to do, and no commit.
    if table.current_snapshot() is None or not list(table.scan(row_filter=old).plan_files()):
        return False
    try:
        single_attempt(table).delete(old)
    except CommitFailedException as exc:
        log.info("%s: prune gave way to a concurrent commit: %s", CACHE_TABLE, exc)
        return False
    return True
