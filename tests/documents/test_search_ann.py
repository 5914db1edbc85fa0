"""The approximate (HNSW) vector index: built past `vector_ann_threshold`, right after incremental syncs."""

from __future__ import annotations

from pathlib import Path

import lancedb

from dagster_project.documents.ann import ANN_INDEX
from dagster_project.documents.index import search, sync_index
from dagster_project.settings import Settings
from tests.documents.fakes import BagOfWords
from tests.documents.search_corpus import as_arrow, chunk_rows, corpus_rows, write_chunks


def _indices(settings: Settings) -> list[str]:
    table = lancedb.connect(str(settings.vector_index_dir)).open_table("document_chunks")
    return [i.name for i in table.list_indices()]


def test_ann_index_is_built_past_the_threshold_and_stays_right_after_a_sync(tmp_path: Path):
    small = Settings.for_data_dir(tmp_path / "small", vector_ann_threshold=1000)
    write_chunks(small, corpus_rows(copies=4))
    assert search(small, "refund item", k=3, embedder=BagOfWords())
    assert ANN_INDEX not in _indices(small)  # 32 chunks: exact search (the full-text index only)

    settings = Settings.for_data_dir(tmp_path / "data", vector_ann_threshold=200)
    table = write_chunks(settings, corpus_rows(copies=30))  # 240 chunks
    first = search(settings, "warranty repair fault", k=5, embedder=BagOfWords())
    assert ANN_INDEX in _indices(settings)
    assert all("warranty" in h.text for h in first)

    # An incremental sync: a new document in, one out. The index answers with the new chunks
    # at once (before they are folded into the ANN index) and never with the removed ones.
    added = chunk_rows("new", "documents/public/new.md", "text/markdown", "customers", ["zebra giraffe"] * 3)
    table.delete("document_id = 'public-2'")
    table = write_chunks(settings, added)
    count = sync_index(settings, table, removed=["public-2"], added=as_arrow(table, added))
    assert count == 240 - 30 + 3
    hits = search(settings, "zebra giraffe", k=3, embedder=BagOfWords())
    assert [h.citation.document_id for h in hits] == ["new"] * 3
    warranty = search(settings, "warranty repair fault", k=40, embedder=BagOfWords())
    assert {h.citation.document_id for h in warranty if "warranty" in h.text} == {"internal-2"}
    assert ANN_INDEX in _indices(settings)
