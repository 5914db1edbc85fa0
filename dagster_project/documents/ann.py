"""The approximate (HNSW) index of the vector index, past `vector_ann_threshold` chunks.

Below the threshold a search compares the question with every chunk (exact). Past it,
`keep_ann` builds LanceDB's IVF_HNSW_SQ index when the index is rebuilt or synced; a search then
re-ranks `REFINE` x k candidates by their exact vectors, so scores stay exact cosines.
"""

from __future__ import annotations

from dagster_project.settings import Settings

# The approximate index: HNSW graphs over scalar-quantised vectors in IVF partitions; a search
# re-ranks REFINE x k candidates by their exact vectors, so scores stay exact cosines.
ANN_INDEX = "vector_idx"
REFINE = 4


def has_ann(lance) -> bool:  # noqa: ANN001 - a lancedb Table (imported lazily)
    """Whether the index has its approximate index."""
    return any(index.name == ANN_INDEX for index in lance.list_indices())


def keep_ann(settings: Settings, lance, count: int) -> None:  # noqa: ANN001 - a lancedb Table
    """Past `vector_ann_threshold` chunks, build the approximate index, or fold new chunks into it.

    Chunks added after the index was built are still found (the index searches them exactly
    beside its graph) and deleted ones never come back, so this is about speed, not correctness:
    `optimize` merges the unindexed chunks into the index once they are a tenth of it.
    """
    if count < settings.vector_ann_threshold:
        return
    if not has_ann(lance):
        from lancedb.index import HnswSq

        # Few, large partitions (16 at 100,000 chunks), each with its own graph: with the default
        # probes a search then visits most of them (benchmarks/bench_search.py reports recall@10).
        partitions = max(1, int(count**0.5 / 20))
        config = HnswSq(distance_type="cosine", num_partitions=partitions)
        lance.create_index("vector", config=config, name=ANN_INDEX)
        return
    stats = lance.index_stats(ANN_INDEX)
    if stats is not None and stats.num_unindexed_rows * 10 >= max(stats.num_indexed_rows, 1):
        lance.optimize()
