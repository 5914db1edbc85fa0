"""Poison documents: a hostile sidecar or an oversized document quarantines that document only."""

from __future__ import annotations

from tests.conftest import land


def test_a_deeply_nested_sidecar_quarantines_its_document_only(settings, documents_config):
    from dagster_project.documents.ingest import ingest_documents

    land(settings, "documents/a.md", "# A\n\nText about returns.\n")
    land(settings, "documents/b.md", "# B\n\nText about shipping.\n")
    land(settings, "documents/b.md.metadata.json", "[" * 100_000 + "]" * 100_000)
    report = ingest_documents(settings, documents_config, run_id="r")
    assert [f["file"] for f in report.ingested] == ["documents/a.md"]
    [record] = report.quarantined
    assert record.reason == "bad_sidecar" and "nested too deeply" in record.message


def test_a_document_over_the_size_limit_is_quarantined_unread(tmp_path, documents_config):
    from dagster_project.documents.ingest import ingest_documents
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(tmp_path / "d", sensor_min_file_age_seconds=0, max_document_bytes=1000)
    land(settings, "documents/big.txt", "word " * 1000)
    land(settings, "documents/small.txt", "a few words")
    report = ingest_documents(settings, documents_config, run_id="r")
    assert [f["file"] for f in report.ingested] == ["documents/small.txt"]
    [record] = report.quarantined
    assert record.reason == "too_large" and "FOUNDATION_MAX_DOCUMENT_BYTES" in record.message
