"""Embedding cache: a chunk text is embedded once per model, whatever the gate decided about its sync.

The counting embedder (the fake `poisoned` one: NaN for text with the word POISON) records every
text it is asked to embed, so each test states exactly what a sync embedded.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest

from dagster_project.documents import embed_cache
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.holds import held_documents
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.review import release_document
from dagster_project.documents.sync import SyncReport, sync_documents
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.documents.fakes import Poisoned
from tests.documents.test_held_documents import BAD, GOOD

COUNTING = "tests.documents.test_embed_cache:counting"
LOG = logging.getLogger(__name__)
SECTIONS = ("Install", "Configure", "Upgrade", "Remove")
WORDS = (
    "server client backup restore token cluster volume bucket queue worker schedule retry timeout "
    "certificate proxy gateway replica shard index cache session cookie header payload webhook "
    "pipeline artifact registry container image kernel module driver firmware sensor metric alert"
).split()


class Counting(Poisoned):
    """The poisoned fake embedder, keeping the texts it was asked to embed."""

    name = "counting-16"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().embed(texts)


class OtherModel(Counting):
    name = "other-model-16"


def counting() -> Counting:
    return Counting()


def _guide(product: str, *changed: str) -> str:
    """A guide of four sections, worded from its own seed (distinct guides are no near-duplicates)."""
    words = random.Random(product).sample(WORDS, len(WORDS))
    parts = [f"# {product} guide\n"]
    for i, section in enumerate(SECTIONS):
        body = " ".join(words[(i * 7 + j) % len(words)] for j in range(60)) + "."
        if section in changed:
            body += " This paragraph was edited after the first sync."
        parts.append(f"## {section}\n\n{body}\n")
    return "\n".join(parts)


@pytest.fixture
def embedder() -> Counting:
    fake = load_embedder(COUNTING)  # loaded once per process: the release path loads the same one
    assert isinstance(fake, Counting)
    fake.texts.clear()
    return fake


def _settings(tmp_path, documents: dict[str, str]) -> Settings:
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, embedder=COUNTING)
    _land(settings, documents)
    return settings


def _land(settings: Settings, documents: dict[str, str]) -> None:
    for name, text in documents.items():
        land(settings, f"documents/{name}", text)
    ingest_documents(settings, load_documents_config(settings.documents_file), run_id="ingest")


def _sync(settings: Settings, embedder: Counting, run: str) -> SyncReport:
    embedder.texts.clear()
    config = load_documents_config(settings.documents_file)
    return sync_documents(
        settings, config, embedder, run_id=run, suite=chunk_suite(settings.expectations_dir)
    )


def _chunks(settings: Settings) -> dict[str, dict]:
    table = open_catalog(settings).load_table("curated.document_chunks")
    return {r["chunk_id"]: r for r in table.scan().to_arrow().to_pylist()}


def test_a_sync_that_changes_nothing_embeds_nothing(tmp_path, embedder):
    settings = _settings(tmp_path, {"a.md": _guide("Alpha"), "b.md": _guide("Beta")})
    first = _sync(settings, embedder, "one")
    assert first.chunks_embedded == len(embedder.texts) > 0
    assert first.embedding_cache_hits == 0

    again = _sync(settings, embedder, "two")
    assert embedder.texts == []
    assert again.chunks_embedded == 0


def test_an_edited_document_embeds_only_its_changed_chunks(tmp_path, embedder):
    settings = _settings(tmp_path, {"a.md": _guide("Alpha"), "b.md": _guide("Beta")})
    _sync(settings, embedder, "one")
    before = _chunks(settings)

    _land(settings, {"a.md": _guide("Alpha", "Configure")})
    report = _sync(settings, embedder, "two")
    assert len(embedder.texts) == report.chunks_embedded == 1
    assert "edited after the first sync" in embedder.texts[0]
    a_chunks = [c for c in _chunks(settings).values() if c["document_id"] == "a.md" and c["embedding"]]
    assert report.embedding_cache_hits == len(a_chunks) - 1
    # The unchanged chunks carry the very vectors they had.
    old = {(tuple(c["heading_path"]), c["text"]): c["embedding"] for c in before.values()}
    reused = [c for c in a_chunks if (tuple(c["heading_path"]), c["text"]) in old]
    assert len(reused) == len(a_chunks) - 1
    assert all(np.allclose(c["embedding"], old[(tuple(c["heading_path"]), c["text"])]) for c in reused)

    # With the cache gone (pruned, or a deployment older than it), the chunks on main give their vectors.
    assert embed_cache.prune(open_catalog(settings), timedelta(0), LOG)
    _land(settings, {"a.md": _guide("Alpha", "Configure", "Upgrade")})
    report = _sync(settings, embedder, "three")
    assert len(embedder.texts) == report.chunks_embedded == 1
    assert "Upgrade" in embedder.texts[0] and report.embedding_cache_hits == len(a_chunks) - 1


def test_a_held_document_does_not_re_embed_the_others_nor_itself_on_release(tmp_path, embedder):
    settings = _settings(tmp_path, {**GOOD, **BAD})
    first = _sync(settings, embedder, "one")
    assert {h["document"] for h in first.held} == set(BAD)

    _land(settings, {"faq.md": _guide("Gamma")})
    rerun = _sync(settings, embedder, "two")
    assert {h["document"] for h in rerun.held} == set(BAD)
    assert embedder.texts and all("Gamma" in t for t in embedder.texts)  # only the new document

    # Its vectors were embedded (and cached) when it was held: only its non-finite chunk, never
    # cached, is embedded again.
    embedder.texts.clear()
    release_document(settings, "warranty.md", via="test")
    assert len(embedder.texts) == 1 and "POISON" in embedder.texts[0]
    assert "warranty.md" not in {h.document_id for h in held_documents(settings)}


def test_vectors_of_a_held_back_batch_are_reused_by_the_next_run(tmp_path, embedder):
    """A batch held back as a whole (duplicate_ratio blames no document): the rerun embeds nothing."""
    shared = "\n\n## Contact\n\nWrite to the help desk through the form on the contact page any day.\n"
    documents = {name: text + shared for name, text in GOOD.items()}
    documents["care.md"] = "# Care\n\n" + "Clean the product with a dry cloth after use. " * 12 + shared
    settings = _settings(tmp_path, documents)
    first = _sync(settings, embedder, "one")
    assert first.gate is not None and first.gate.held_back
    assert first.chunks_embedded > 0

    again = _sync(settings, embedder, "two")
    assert again.gate is not None and again.gate.held_back  # still held: nothing changed
    assert embedder.texts == [] and again.chunks_embedded == 0
    assert again.embedding_cache_hits == first.chunks_embedded


def test_another_model_misses_the_cache(tmp_path, embedder):
    settings = _settings(tmp_path, {"a.md": _guide("Alpha")})
    first = _sync(settings, embedder, "one")

    other = OtherModel()
    switched = _sync(settings, other, "two")
    assert switched.chunks_embedded == len(other.texts) == first.chunks_embedded
    assert {c["embedding_model"] for c in _chunks(settings).values()} == {OtherModel.name}

    back = _sync(settings, embedder, "three")  # the first model's vectors are still cached
    assert embedder.texts == [] and back.embedding_cache_hits == first.chunks_embedded


def test_storing_the_same_vectors_twice_keeps_one_row_per_key(tmp_path):
    catalog = open_catalog(Settings.for_data_dir(tmp_path / "data"))
    vectors = {embed_cache.cache_key("m", t): np.full(4, i, np.float32) for i, t in enumerate("xyz")}
    vectors[embed_cache.cache_key("m", "nan")] = np.full(4, np.nan, np.float32)
    assert embed_cache.store(catalog, "m", vectors, "one", LOG) == 3  # NaN is not kept
    assert embed_cache.store(catalog, "m", vectors, "two", LOG) == 0
    found = embed_cache.lookup(catalog, "m", 4, set(vectors))
    assert len(found) == 3 and found[embed_cache.cache_key("m", "y")].tolist() == [1.0] * 4
    assert embed_cache.lookup(catalog, "other", 4, set(vectors)) == {}
