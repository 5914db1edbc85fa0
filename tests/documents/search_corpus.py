"""A small chunk table written straight into curated.document_chunks, for the search tests (no pipeline run).

Two sources: `documents/public/` (markdown, sidecar audience=customers) and
`documents/internal/` (text, audience=staff). Vectors come from the `bag_of_words` fake embedder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.table import Table

from dagster_project.documents.tables import DIMENSION_PROPERTY, MODEL_PROPERTY, as_table_arrow, chunks_table
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.documents.fakes import BagOfWords

TOPICS = ["returns refund item", "shipping courier parcel", "warranty repair fault", "invoice payment card"]


def chunk_rows(document: str, path: str, media_type: str, audience: str, texts: list[str]) -> list[dict]:
    """Rows of curated.document_chunks for one document, embedded with the bag-of-words fake."""
    vectors = BagOfWords().embed(texts)
    return [
        {
            "chunk_id": f"{document}#{i}",
            "document_id": document,
            "path": path,
            "checksum": "c",
            "title": document.title(),
            "media_type": media_type,
            "position": i,
            "level": "chunk",
            "parent_id": None,
            "heading_path": [document.title(), f"part {i}"],
            "text": text,
            "token_count": len(text.split()),
            "metadata": json.dumps({"audience": audience, "owner": "team-" + audience}),
            "embedding": vectors[i].tolist(),
            "embedding_model": BagOfWords.name,
            "chunker": "test",
            "_source_file": f"file:///{path}",
            "_source_checksum": "c",
            "_run_id": "test",
            "_synced_at": datetime.now(UTC),
        }
        for i, text in enumerate(texts)
    ]


def corpus_rows(copies: int = 1) -> list[dict]:
    """Each topic as a public and an internal document, `copies` chunks each."""
    rows = []
    for n, topic in enumerate(TOPICS):
        texts = [f"{topic} note {c}" for c in range(copies)]
        rows += chunk_rows(f"public-{n}", f"documents/public/{n}.md", "text/markdown", "customers", texts)
        rows += chunk_rows(f"internal-{n}", f"documents/internal/{n}.txt", "text/plain", "staff", texts)
    return rows


def write_chunks(settings: Settings, rows: list[dict]) -> Table:
    """Append `rows` to curated.document_chunks on main (created with the fake embedder's properties)."""
    table = chunks_table(open_catalog(settings))
    if MODEL_PROPERTY not in table.properties:
        with table.transaction() as tx:
            tx.set_properties(
                {MODEL_PROPERTY: BagOfWords.name, DIMENSION_PROPERTY: str(BagOfWords.dimension)}
            )
    table.append(as_table_arrow(table, rows))
    return table


def as_arrow(table: Table, rows: list[dict]) -> pa.Table:
    return as_table_arrow(table, rows)
