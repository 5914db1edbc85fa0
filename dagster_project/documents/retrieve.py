"""Ranking chunks for a question: vector search, or hybrid (BM25 full text + vector, reciprocal rank fusion).

Vectors find paraphrases; BM25 finds the exact identifiers, error codes and product names that a
small embedding model blurs (`TW-E217`, `REQUEST_LIMIT_EXCEEDED`). Hybrid ranks the chunks both
ways over LanceDB (its native BM25 full-text index, built by `index.py` and kept in step with every
sync) and fuses the two rankings with reciprocal rank fusion, which needs no calibration
between BM25 scores and cosine similarities. Filters apply to both rankings before fusion
(prefilter), so a filtered search never comes back short.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODES = ("hybrid", "vector")
# Reciprocal rank fusion's constant: a chunk at rank r in a ranking scores 1 / (RRF_K + r). The
# paper's 60 suits fusing deep runs (1,000 documents); over short lists of chunks the top ranks
# carry the signal, and a smaller constant lets a clear first place in one ranking count (measured
# in benchmarks/bench_retrieval.py: 10 and 60 give the same recall@1, 10 a higher recall@5).
RRF_K = 10
# Chunks each ranking contributes to the fusion: a chunk ranked low by one method and high by
# the other must be in both lists to be fused.
CANDIDATES = 40
# The column holding the text BM25 ranks: title, heading path and chunk text (see index.py).
FTS_COLUMN = "search_text"


def fuse(rankings: list[list[str]], k: int = RRF_K) -> list[str]:
    """Reciprocal rank fusion: ids by the sum over rankings of 1 / (k + rank), best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda key: -scores[key])


def retrieve(
    lance: Any,
    question: str,
    vector: np.ndarray,
    *,
    k: int,
    condition: str | None,
    mode: str = "hybrid",
) -> list[dict[str, Any]]:
    """The `k` best index rows for the question, best first, each with `_distance` (cosine distance).

    Args:
        lance: The LanceDB table (`index.LANCE_TABLE`).
        question: The question as the user typed it (BM25 ranks its words).
        vector: The question's unit-length embedding.
        k: How many rows.
        condition: A LanceDB SQL filter applied before ranking, or None.
        mode: `hybrid` (BM25 + vector, fused) or `vector` (vector only).

    Returns:
        Index rows as dicts; in hybrid mode ordered by fused rank, `_distance` still the cosine
        distance to the question so that every hit's score means the same thing.
    """
    depth = k if mode == "vector" else max(k, CANDIDATES)
    query = lance.search(vector).metric("cosine").limit(depth)
    if condition:
        query = query.where(condition, prefilter=True)
    by_vector = query.to_list()
    if mode == "vector" or not question.strip():
        return by_vector[:k]
    query = lance.search(question, query_type="fts", fts_columns=FTS_COLUMN).limit(depth)
    if condition:
        query = query.where(condition, prefilter=True)
    by_text = query.to_list()
    rows = {r["chunk_id"]: r for r in by_text} | {r["chunk_id"]: r for r in by_vector}
    ranked = fuse([[r["chunk_id"] for r in by_vector], [r["chunk_id"] for r in by_text]])
    out = []
    for chunk in ranked[:k]:
        row = rows[chunk]
        if "_distance" not in row:
            # Chunk and question vectors are unit length: their dot product is the cosine similarity.
            row["_distance"] = 1.0 - float(np.dot(np.asarray(row["vector"], dtype=np.float32), vector))
        out.append(row)
    return out
