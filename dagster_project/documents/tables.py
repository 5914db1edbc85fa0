"""Iceberg schemas of the curated document tables: curated.documents and curated.document_chunks."""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import (
    DoubleType,
    FloatType,
    IntegerType,
    ListType,
    StringType,
    TimestamptzType,
)

from dagster_project.lakehouse.tables import ensure_table, optional_field

DOCUMENTS_TABLE = "curated.documents"
CHUNKS_TABLE = "curated.document_chunks"
# Iceberg has no fixed-size list: vectors are list<float> (float32), their dimension is recorded in
# this table property and checked by the gate (expectations/curated.document_chunks.json).
DIMENSION_PROPERTY = "foundation.embedding.dimension"
MODEL_PROPERTY = "foundation.embedding.model"


DOCUMENTS_SCHEMA = Schema(
    optional_field(1, "document_id", StringType(), "Document id: its path below the landing prefix."),
    optional_field(2, "path", StringType(), "Landing key of the source file."),
    optional_field(3, "checksum", StringType(), "The raw.documents version this row curates."),
    optional_field(4, "title", StringType(), "Document title."),
    optional_field(5, "media_type", StringType(), "Media type of the source file."),
    optional_field(6, "metadata", StringType(), "Sidecar attributes as a JSON object."),
    optional_field(7, "text", StringType(), "Normalised text with PII replaced by [EMAIL], [PHONE], ..."),
    optional_field(8, "content_hash", StringType(), "BLAKE3 of the case- and whitespace-folded text."),
    optional_field(9, "cluster_id", StringType(), "Duplicate cluster: the canonical member's document id."),
    optional_field(10, "duplicate_kind", StringType(), "unique, canonical, exact or near."),
    optional_field(11, "similarity", DoubleType(), "Estimated Jaccard similarity to the canonical member."),
    optional_field(12, "pii_redactions", StringType(), "Placeholders inserted, by type, as a JSON object."),
    optional_field(13, "boilerplate_lines_removed", IntegerType(), "Page furniture lines removed."),
    optional_field(
        14,
        "quality_issues",
        ListType(100, StringType(), element_required=False),
        "Heuristic filters failed (too_short, mostly_non_text, repeated_lines) with values.",
    ),
    optional_field(
        15, "status", StringType(), "indexed, excluded, held (a chunk failed the gate) or discarded."
    ),
    optional_field(
        16, "reason", StringType(), "Why a document is not indexed (excluded, held or discarded)."
    ),
    optional_field(17, "chunk_count", IntegerType(), "Chunks in curated.document_chunks (0 if excluded)."),
    optional_field(18, "warnings", StringType(), "Extraction warnings from raw.documents (JSON list)."),
    optional_field(19, "_run_id", StringType(), "Dagster run that curated it."),
    optional_field(20, "_synced_at", TimestamptzType(), "When it was curated (UTC)."),
)

CHUNKS_SCHEMA = Schema(
    optional_field(1, "chunk_id", StringType(), "Stable id: hash of document id, position and text."),
    optional_field(2, "document_id", StringType(), "Document id (curated.documents.document_id)."),
    optional_field(3, "path", StringType(), "Landing key of the source file, for citations."),
    optional_field(4, "checksum", StringType(), "The raw.documents version chunked."),
    optional_field(5, "title", StringType(), "Document title."),
    optional_field(6, "media_type", StringType(), "Media type of the source file."),
    optional_field(7, "position", IntegerType(), "Position of the chunk in its document (0, 1, ...)."),
    optional_field(8, "level", StringType(), "chunk (flat), parent (context only, not embedded) or child."),
    optional_field(9, "parent_id", StringType(), "The parent chunk of a child chunk."),
    optional_field(
        10, "heading_path", ListType(101, StringType(), element_required=False), "Headings above the chunk."
    ),
    optional_field(11, "text", StringType(), "Chunk text (curated: PII redacted)."),
    optional_field(12, "token_count", IntegerType(), "Word and punctuation tokens in the text."),
    optional_field(13, "metadata", StringType(), "Sidecar attributes of the document as a JSON object."),
    optional_field(
        14,
        "embedding",
        ListType(102, FloatType(), element_required=True),
        "Unit-length float32 vector; dimension in table property foundation.embedding.dimension. "
        "Null for parent chunks.",
    ),
    optional_field(15, "embedding_model", StringType(), "Embedder name (e.g. all-MiniLM-L6-v2)."),
    optional_field(
        16, "chunker", StringType(), "Chunking options fingerprint (strategy:max:overlap:parent)."
    ),
    optional_field(17, "_source_file", StringType(), "URI of the landed document."),
    optional_field(18, "_source_checksum", StringType(), "Same as checksum (lineage column name)."),
    optional_field(19, "_run_id", StringType(), "Dagster run that wrote the chunk."),
    optional_field(20, "_synced_at", TimestamptzType(), "When the chunk was written (UTC)."),
)


def documents_table(catalog: Catalog) -> Table:
    return ensure_table(catalog, DOCUMENTS_TABLE, DOCUMENTS_SCHEMA)


def chunks_table(catalog: Catalog) -> Table:
    return ensure_table(catalog, CHUNKS_TABLE, CHUNKS_SCHEMA)


def as_table_arrow(table: Table, rows: list[dict]) -> pa.Table:
    """Rows as Arrow in the table's own schema (field ids, list element nullability)."""
    schema = table.schema().as_arrow()
    return pa.Table.from_pylist(rows, schema=schema)
