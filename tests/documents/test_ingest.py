"""raw.documents: one row per document version, exactly once; a broken sidecar quarantines its document."""

from __future__ import annotations

from dagster_project.documents.ingest import ingest_documents
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog


def test_each_version_lands_once_and_a_broken_sidecar_quarantines_its_document(
    settings, documents_config, knowledge_base
):
    (knowledge_base / "faq.html.metadata.json").write_text("{broken")
    first = ingest_documents(settings, documents_config, run_id="r1")
    assert len(first.ingested) == 12
    [quarantined] = first.quarantined
    assert quarantined.reason == "bad_sidecar" and "faq.html.metadata.json" in quarantined.message
    assert (knowledge_base / "faq.html").exists() and (knowledge_base / "faq.html.metadata.json").exists()

    again = ingest_documents(settings, documents_config, run_id="r2")
    assert again.ingested == [] and again.quarantined == []  # handled versions are skipped
    assert {s["why"] for s in again.skipped} >= {"already quarantined"}

    (knowledge_base / "faq.html.metadata.json").write_text('{"metadataAttributes": {"topic": "faq"}}')
    fixed = ingest_documents(settings, documents_config, run_id="r3")
    assert [f["file"] for f in fixed.ingested] == ["documents/faq.html"]
    rows = open_catalog(settings).load_table("raw.documents").scan().to_arrow().to_pylist()
    assert len(rows) == 13 and len({(r["path"], r["checksum"]) for r in rows}) == 13
    assert [r["metadata"] for r in rows if r["path"] == "documents/faq.html"] == ['{"topic": "faq"}']
    assert [q["reason"] for q in read_quarantine(open_catalog(settings)).to_pylist()] == ["bad_sidecar"]
