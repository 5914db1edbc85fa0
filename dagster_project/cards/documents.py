"""Cards of the document layer's curated tables, from documents.yml, the curation code and the schemas."""

from __future__ import annotations

from datetime import datetime

from dagster_project.cards.content import (
    Bullets,
    Card,
    Grid,
    QualityResults,
    Section,
    Text,
    limits_section,
    profile_notes,
    profile_section,
    quality_section,
)
from dagster_project.cards.profile import TableProfile
from dagster_project.documents.config import COLUMNS, DocumentsConfig
from dagster_project.documents.pii import PII_KINDS
from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE, DOCUMENTS_SCHEMA, DOCUMENTS_TABLE

TABLES = (DOCUMENTS_TABLE, CHUNKS_TABLE)
_GRAIN = {
    DOCUMENTS_TABLE: "One row per current document: normalised, PII-redacted text, its duplicate cluster, "
    "quality issues, and whether it is indexed or why not.",
    CHUNKS_TABLE: "One row per chunk of an indexed document: heading path, redacted text, token count and "
    "embedding, mirrored in the LanceDB vector index.",
}
_USES = {
    DOCUMENTS_TABLE: [
        "Auditing what the retrieval layer indexes and why a document is left out.",
        "Finding duplicate and low-quality documents in the knowledge base.",
    ],
    CHUNKS_TABLE: [
        "Retrieval-augmented generation with citations (`foundation search`, the vector index).",
        "Evaluating retrieval quality over the knowledge base.",
    ],
}
_DECLARED = {
    DOCUMENTS_TABLE: ["Titles and sidecar metadata are kept as written: they are not redacted."],
    CHUNKS_TABLE: [
        "Vectors are comparable only within one embedding model (column `embedding_model`); "
        "changing the embedder re-embeds every document.",
        "Titles are kept as written: they are not redacted.",
    ],
}
_KEYS = {
    DOCUMENTS_TABLE: ["document_id", "path", "checksum"],
    CHUNKS_TABLE: ["chunk_id", "checksum", "parent_id"],
}


def _preprocessing(config: DocumentsConfig, table: str, embedder: str) -> Section:
    q = config.quality
    chunking = [
        f"default: {config.default_chunking.strategy}, up to {config.default_chunking.max_tokens} tokens, "
        f"{config.default_chunking.overlap_tokens} overlapping"
    ] + [
        f"`{r.glob}`: {r.options.strategy}, up to {r.options.max_tokens} tokens "
        f"(parents {r.options.parent_tokens}), {r.options.overlap_tokens} overlapping"
        for r in config.rules
    ]
    steps = [
        f"Collection: files landed under `{config.prefix}` (markdown, HTML, text, PDF, with optional "
        "`<file>.metadata.json` sidecars), extracted into raw.documents, one row per document version.",
        "Normalisation: Unicode NFKC, whitespace tidied, page furniture removed (page numbers, copyright "
        "lines, headers and footers repeated on most pages).",
        "PII redaction: " + ", ".join(PII_KINDS) + " replaced by `[KIND]` placeholders "
        "(phone numbers validated by libphonenumber, cards, IBANs and national ids by their checksums).",
        f"Quality filters: at least {q.min_words} words, at least {q.min_alpha_ratio:.0%} letters, at most "
        f"{q.max_repeated_line_ratio:.0%} repeated lines; a failing document is kept out of the index.",
        "Deduplication: exact duplicates by BLAKE3 of the case- and whitespace-folded text, near "
        "duplicates by MinHash LSH over word 3-grams at Jaccard similarity "
        f"≥ {config.near_duplicate_threshold}; only the canonical member of a cluster is indexed.",
    ]
    if table == CHUNKS_TABLE:
        steps += [
            "Chunking (documents.yml, first matching rule wins): " + "; ".join(chunking) + ".",
            f"Embedding: `{embedder}` (FOUNDATION_EMBEDDER), unit-length float32 vectors; parent chunks "
            "are context only and have no vector.",
            "Published through Write-Audit-Publish: the chunk suite runs on an audit branch first.",
        ]
    return Section("Collection and preprocessing", [Bullets(steps)])


def _pii(table: str) -> Section:
    raw = [c for c in COLUMNS if c.pii]
    how = "redacted in code (dagster_project/documents/curate.py): " + ", ".join(PII_KINDS) + " → `[KIND]`"
    rows = [["text", "free_text", ", ".join(f"raw.documents.{c.name}" for c in raw), how]]
    return Section(
        "PII handling",
        [
            Text("Raw PII upstream: " + ", ".join(f"raw.documents.{c.name} ({c.pii})" for c in raw) + "."),
            Grid(["column", "PII kind", "raw columns", "masking"], rows),
            Text(
                "Placeholders inserted per document are counted in `pii_redactions`."
                if table == DOCUMENTS_TABLE
                else "Chunks are cut from the redacted text, so no chunk or vector sees the original."
            ),
        ],
    )


def document_card(
    table: str,
    config: DocumentsConfig,
    profile: TableProfile,
    quality: QualityResults | None,
    *,
    embedder: str,
    generated_at: datetime,
) -> Card:
    """The card of curated.documents or curated.document_chunks.

    Raises:
        KeyError: `table` is not one of the document layer's curated tables.
    """
    if table not in TABLES:
        raise KeyError(f"{table} is not a document table; use one of {', '.join(TABLES)}")
    schema = DOCUMENTS_SCHEMA if table == DOCUMENTS_TABLE else CHUNKS_SCHEMA
    descriptions = {f.name: f.doc or "" for f in schema.fields}
    upstream = "raw.documents" if table == DOCUMENTS_TABLE else f"{DOCUMENTS_TABLE} ← raw.documents"
    facts = [
        ("Table", f"Iceberg `{table}` (Dagster asset `{table.replace('.', '/')}`)"),
        ("Snapshot", str(profile.snapshot_id) if profile.snapshot_id is not None else "none yet"),
        ("Rows", f"{profile.rows:,}"),
        ("Generated", generated_at.isoformat(timespec="seconds")),
        ("Owner", config.owner),
        ("Primary key", "document_id" if table == DOCUMENTS_TABLE else "chunk_id"),
    ]
    sections = [
        Section("What one row is", [Text(f"{_GRAIN[table]} {config.description}")]),
        Section(
            "Sources and lineage",
            [Bullets([f"{table} ← {upstream} ← landing `{config.prefix}` (documents)"])],
        ),
        _preprocessing(config, table, embedder),
        profile_section(profile, descriptions),
        quality_section(quality),
        limits_section(profile_notes(profile, skip=_KEYS[table]), _DECLARED[table]),
        _pii(table),
        Section("Owner and intended uses", [Text(f"Owner: {config.owner}."), Bullets(_USES[table])]),
    ]
    return Card(table, _GRAIN[table].split(":")[0] + ".", facts, sections, profile.snapshot_id, profile.rows)
