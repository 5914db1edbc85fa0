"""Ranking chunks for a question: vector search, or hybrid (BM25 full text + vector, reciprocal rank fusion).

Vectors find paraphrases; BM25 finds the exact identifiers, error codes and product names that a
small embedding model blurs (`TW-E217`, `REQUEST_LIMIT_EXCEEDED`). Hybrid ranks the chunks both
ways over LanceDB (its native BM25 full-text index, built by `index.py` and kept in step with every
sync) and fuses the two rankings with reciprocal rank fusion, which needs no calibration
between BM25 scores and cosine similarities. Filters apply to both rankings before fusion
(prefilter), so a filtered search never comes back short.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def fuse(rankings: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: each id's sum over rankings of 1 / (k + rank), best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


def retrieve(
    lance: Any,
    question: str,
    vector: np.ndarray,
    *,
    k: int,
    condition: str | None,
    mode: str = "hybrid",
    columns: Sequence[str] | None = None,
    refine: int | None = None,
) -> list[dict[str, Any]]:
    """The `k` best index rows for the question, best first, each with its `_score`.

    Args:
        lance: The LanceDB table (`index.LANCE_TABLE`).
        question: The question as the user typed it (BM25 ranks its words).
        vector: The question's unit-length embedding.
        k: How many rows.
        condition: A LanceDB SQL filter applied before ranking, or None.
        mode: `hybrid` (BM25 + vector, fused) or `vector` (vector only).
        columns: The index columns to return (default all, the vector included).
        refine: With an approximate index: re-rank this many times the candidates by exact vectors.

    Returns:
        Index rows as dicts. `_score` is the cosine similarity in vector mode; in hybrid mode the
        fused score scaled to (0, 1], 1.0 for a chunk ranked first both ways, so that scores
        always fall as the list goes down.
    """
    depth = k if mode == "vector" else max(k, CANDIDATES)
    query = lance.search(vector).metric("cosine").limit(depth)
    if columns is not None:
        query = query.select([*columns, "_distance"])
    if refine:
        query = query.refine_factor(refine)
    if condition:
        query = query.where(condition, prefilter=True)
    by_vector = query.to_list()
    for row in by_vector:
        row["_score"] = 1.0 - float(row["_distance"])
    if mode == "vector" or not question.strip():
        return by_vector[:k]
    query = lance.search(question, query_type="fts", fts_columns=FTS_COLUMN).limit(depth)
    if columns is not None:  # with its BM25 `_score` (lance warns on every query without it)
        query = query.select([*columns, "_score"])
    if condition:
        query = query.where(condition, prefilter=True)
    by_text = query.to_list()
    rows = {r["chunk_id"]: r for r in by_text} | {r["chunk_id"]: r for r in by_vector}
    fused = fuse([[r["chunk_id"] for r in by_vector], [r["chunk_id"] for r in by_text]], k=RRF_K)
    best = 2.0 / (RRF_K + 1)
    out = []
    for chunk, score in list(fused.items())[:k]:
        out.append({**rows[chunk], "_score": score / best})
    return out
