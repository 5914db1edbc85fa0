"""Bounded memory: a document past the size limits is quarantined with the setting to change, the rest
publish; big texts are hashed and read in blocks with the same results as whole."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dagster_project.demo.sample_data.pdf import pdf_bytes
from dagster_project.documents.chunking import chunk_document
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.curate import normalise, redact
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import sync_documents
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.documents.fakes import BagOfWords

VOCABULARY = ("returns", "parcel", "refund", "warehouse", "courier", "invoice", "label", "customs")
SMALL = "# Shipping\n\n" + "Parcels leave the warehouse within two working days, arrive within a week. " * 3


def _prose(words: int, seed: int) -> str:
    """Varied words (repeated text would fail the chunk suite's duplicate check)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCABULARY) + str(rng.randrange(100)) for _ in range(words))


def _pdf(pages: int, words: int = 60) -> bytes:
    blocks: list[tuple[str, str]] = []
    for page in range(pages):
        blocks += [("hr", "")] if page else []  # a rule is a page break
        blocks += [("h1", f"Chapter {page + 1}"), ("p", _prose(words, page))]
    return pdf_bytes("Manual", blocks)


def _run(tmp_path: Path, **limits: int):
    settings = Settings.for_data_dir(tmp_path / "d", sensor_min_file_age_seconds=0, **limits)
    land(settings, "documents/shipping.md", SMALL)
    return settings


def _ingest_and_sync(settings: Settings):
    config = load_documents_config(settings.documents_file)
    ingest = ingest_documents(settings, config, run_id="r1")
    sync = sync_documents(
        settings, config, BagOfWords(), run_id="r1", suite=chunk_suite(settings.expectations_dir)
    )
    records = read_quarantine(open_catalog(settings)).to_pylist()
    quarantined = [q for q in records if q["dataset"] == "documents"]
    return ingest, sync, quarantined


def test_documents_past_a_limit_are_quarantined_and_the_others_publish(tmp_path):
    settings = _run(tmp_path, max_document_text_bytes=4000, max_document_pages=2)
    words = "many words " * 500  # 5,500 bytes
    oversized = {
        "documents/big.txt": ("TEXT_BYTES", words),
        "documents/big.md": ("TEXT_BYTES", "# Big\n\n" + words),
        "documents/big.html": ("TEXT_BYTES", f"<html><body><main><p>{words}</p></main></body></html>"),
        "documents/long.pdf": ("PAGES", _pdf(3)),
        "documents/dense.pdf": ("TEXT_BYTES", _pdf(2, words=300)),  # refused while its pages are read
    }
    for key, (_, content) in oversized.items():
        land(settings, key, content)
    ingest, sync, quarantined = _ingest_and_sync(settings)

    refused = {r.source_file.split("landing/", 1)[-1]: r for r in ingest.quarantined}
    assert sorted(refused) == sorted(oversized)
    for key, (setting, _) in oversized.items():
        assert refused[key].reason == "too_large"
        assert key in refused[key].message and f"FOUNDATION_MAX_DOCUMENT_{setting}" in refused[key].message
    assert sorted(q["source_file"].rsplit("/", 1)[-1] for q in quarantined) == sorted(
        k.rsplit("/", 1)[-1] for k in oversized
    )
    assert sync.published == ["shipping.md"]


def test_documents_under_the_limits_publish(tmp_path):
    settings = _run(tmp_path, max_document_text_bytes=100_000, max_document_pages=3)
    land(settings, "documents/manual.pdf", _pdf(3))
    land(settings, "documents/notes.txt", "Notes\n=====\n\n" + _prose(800, 99))
    ingest, sync, quarantined = _ingest_and_sync(settings)
    assert not ingest.quarantined and not quarantined
    assert sync.published == ["manual.pdf", "notes.txt", "shipping.md"]


def test_sync_chunks_the_latest_version_only(tmp_path):
    """The sync reads each document's latest raw version (older versions' text is never loaded)."""
    settings = _run(tmp_path)
    config = load_documents_config(settings.documents_file)
    ingest_documents(settings, config, run_id="r1")
    edited = "# Shipping\n\n## Times\n\n" + "Parcels now leave the warehouse the same day. " * 60
    land(settings, "documents/shipping.md", edited)
    ingest_documents(settings, config, run_id="r2")
    sync = sync_documents(settings, config, BagOfWords(), run_id="r2")

    chunks = open_catalog(settings).load_table("curated.document_chunks").scan().to_arrow()
    text, _ = redact(normalise(edited)[0])
    expected = chunk_document(text, config.chunking_for("documents/shipping.md"))
    assert sync.published == ["shipping.md"]
    assert chunks.sort_by("position")["text"].to_pylist() == [c.text for c in expected]


@pytest.mark.parametrize("block_words", [1, 2, 3, 5, 64])
def test_hashing_a_text_in_blocks_gives_the_same_fingerprints(monkeypatch, block_words):
    from dagster_project.documents import dedup

    texts = ["", "one", "one two", "One, two three!", "x " * 40, "Größe und Maße: " + "a b c d e f g " * 30]
    whole = [(dedup.content_hash(t), dedup.minhash(t).tolist()) for t in texts]
    monkeypatch.setattr(dedup, "BLOCK_WORDS", block_words)
    assert [(dedup.content_hash(t), dedup.minhash(t).tolist()) for t in texts] == whole
