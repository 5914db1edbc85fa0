"""The document assets end to end on tmp_path: ingest, quarantine, curate, chunk, embed, gate, search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pyiceberg.types import FloatType, ListType

from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, RAW_KEY, build_document_assets
from dagster_project.defs.resources import Foundation
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.index import SearchError, search
from dagster_project.documents_catch_up import materialization_metadata
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land

pytestmark = pytest.mark.slow


def _materialize(settings: Settings, config, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_document_assets(config, settings.expectations_dir),
        resources={"foundation": Foundation.from_settings(settings)},
        raise_on_error=raise_on_error,
    )


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    return materialization_metadata(result, key)


def _duckdb_with_iceberg() -> duckdb.DuckDBPyConnection:
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    con = duckdb.connect()
    for module in (duckdb_extension_avro, duckdb_extension_iceberg):
        [path] = Path(module.__file__).parent.glob("extensions/*/*.duckdb_extension")
        con.execute(f"LOAD '{path}'")
    return con


def test_knowledge_base_becomes_searchable_chunks_with_citations(
    settings, documents_config, knowledge_base, minilm
):
    land(settings, "documents/broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\ntrailer")
    result = _materialize(settings, documents_config)
    catalog = open_catalog(settings)

    raw = catalog.load_table("raw.documents").scan().to_arrow().to_pylist()
    by_path = {r["path"]: r for r in raw}
    assert len(raw) == 13 and "documents/broken.pdf" not in by_path  # 13 documents; sidecars are no rows
    shipping = by_path["documents/shipping.md"]
    assert shipping["media_type"] == "text/markdown" and shipping["title"] == "Shipping and delivery"
    assert json.loads(shipping["metadata"]) == {"audience": "customers", "department": "logistics"}
    assert by_path["documents/privacy_policy.pdf"]["media_type"] == "application/pdf"
    assert json.loads(by_path["documents/payments.html"]["warnings"])  # page chrome removed, and said so
    [quarantined] = [q for q in read_quarantine(catalog).to_pylist() if q["dataset"] == "documents"]
    assert quarantined["reason"] == "unreadable" and "broken.pdf" in quarantined["message"]
    assert (knowledge_base / "broken.pdf").exists()  # the original stays where it landed
    assert Path(quarantined["quarantine_file"].removeprefix("file://")).exists()

    curated = {
        r["document_id"]: r for r in catalog.load_table("curated.documents").scan().to_arrow().to_pylist()
    }
    assert curated["shipping_copy.md"]["status"] == "excluded"
    assert curated["shipping_copy.md"]["reason"].startswith("exact duplicate of shipping.md")
    assert curated["returns_2025.md"]["duplicate_kind"] == "near"
    assert curated["returns_2025.md"]["cluster_id"] == "returns.md"
    assert json.loads(curated["contact.md"]["pii_redactions"]) == {"EMAIL": 2, "PHONE": 2}
    assert "[EMAIL]" in curated["contact.md"]["text"] and "@" not in curated["contact.md"]["text"]
    assert sum(r["status"] == "indexed" for r in curated.values()) == 11

    chunks_table = catalog.load_table("curated.document_chunks")
    assert chunks_table.schema().find_field("embedding").field_type == ListType(
        chunks_table.schema().find_field("embedding").field_type.element_id,
        FloatType(),
        element_required=True,
    )
    assert chunks_table.properties["foundation.embedding.dimension"] == "384"
    chunks = chunks_table.scan().to_arrow().to_pylist()
    assert {c["document_id"] for c in chunks} == {d for d, r in curated.items() if r["status"] == "indexed"}
    assert not any("@" in c["text"] for c in chunks)
    assert all(len(c["embedding"]) == 384 for c in chunks if c["level"] != "parent")
    con = _duckdb_with_iceberg()
    lengths = con.execute(
        f"SELECT DISTINCT len(embedding), typeof(embedding::FLOAT[384]) "
        f"FROM iceberg_scan('{chunks_table.metadata_location}') WHERE embedding IS NOT NULL"
    ).fetchall()
    assert lengths == [(384, "FLOAT[384]")]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["embedding_finite"] and checks["no_residual_pii"] and checks["duplicate_ratio"]

    hits = search(
        settings, "How many days do I have to send an item back for a refund?", k=5, embedder=minilm
    )
    assert hits[0].citation.source_file == "documents/returns.md"
    assert hits[0].citation.heading_path[0] == "Returns and refunds"
    assert all(0 < h.score <= 1 for h in hits) and hits == sorted(hits, key=lambda h: -h.score)
    legal = search(settings, "how long is my data kept", k=5, where={"department": "legal"}, embedder=minilm)
    assert legal and {h.citation.source_file for h in legal} == {"documents/privacy_policy.pdf"}
    assert ["Privacy policy", "How long we keep it"] in [h.citation.heading_path for h in legal[:2]]
    only_pdf = search(settings, "delivery", k=3, where={"media_type": "text/html"}, embedder=minilm)
    assert {h.citation.source_file.rsplit(".", 1)[-1] for h in only_pdf} == {"html"}


def test_sync_reembeds_only_changed_documents_and_removes_deleted_ones(
    settings, documents_config, knowledge_base
):
    settings = Settings(**{**settings.__dict__, "embedder": "tests.documents.fakes:bag_of_words"})
    first = _materialize(settings, documents_config)
    assert len(_metadata(first, CHUNKS_KEY)["documents_embedded"]) == 11
    table = open_catalog(settings).load_table("curated.document_chunks")
    before = {c["chunk_id"]: c["document_id"] for c in table.scan().to_arrow().to_pylist()}

    account = knowledge_base / "account.txt"
    account.write_text(
        account.read_text() + "\nGuest checkout\n--------------\n\nYou can order without an account.\n"
    )
    (knowledge_base / "gift_cards.txt").unlink()
    second = _materialize(settings, documents_config)
    chunks = _metadata(second, CHUNKS_KEY)
    assert chunks["documents_embedded"] == ["account.txt"]
    assert chunks["documents_removed"] == ["account.txt", "gift_cards.txt"]
    after = {c["chunk_id"]: c for c in table.refresh().scan().to_arrow().to_pylist()}
    assert not any(c["document_id"] == "gift_cards.txt" for c in after.values())
    unchanged = {cid for cid, doc in before.items() if doc not in ("account.txt", "gift_cards.txt")}
    assert unchanged <= set(after)  # untouched documents keep their chunks (same ids)
    assert any("without an account" in c["text"] for c in after.values())
    assert chunks["index_rows"] == sum(c["level"] != "parent" for c in after.values())
    assert _metadata(second, RAW_KEY)["files_ingested"] == 1

    third = _materialize(settings, documents_config)
    assert _metadata(third, CHUNKS_KEY)["documents_embedded"] == []
    assert _metadata(third, CHUNKS_KEY)["documents_removed"] == []

    # The index is derived: lost, it is rebuilt from Iceberg on the next search.
    shutil.rmtree(settings.vector_index_dir)
    hits = search(
        settings, "guest checkout without an account", k=2, embedder=load_embedder(settings.embedder)
    )
    assert hits and hits[0].citation.document_id == "account.txt"


def test_gate_holds_back_each_document_with_broken_vectors(settings, documents_config, knowledge_base):
    settings = Settings(**{**settings.__dict__, "embedder": "tests.documents.fakes:broken"})
    result = _materialize(settings, documents_config, raise_on_error=False)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["no_held_documents"].passed  # every document's chunks failed embedding_finite
    documents = _metadata(result, DOCUMENTS_KEY)
    assert documents["indexed"] == 0 and documents["held"] == 11 and documents["published"] == []
    assert "embedding_finite failed on chunk" in documents["held_documents"]
    table = open_catalog(settings).load_table("curated.document_chunks")
    assert table.scan().to_arrow().num_rows == 0  # main never saw them
    assert not [r for r in table.metadata.refs if r.startswith("audit-")]  # nothing waits on a branch
    curated = open_catalog(settings).load_table("curated.documents").scan().to_arrow().to_pylist()
    assert sum(r["status"] == "held" for r in curated) == 11


def test_search_before_any_sync_says_what_to_do(settings):
    with pytest.raises(SearchError, match="no documents indexed yet"):
        search(settings, "anything")
