"""Kill a documents sync at every step boundary, rerun once: each chunk once, index whole, nothing stranded.

The sync runs in a child process with the small fake embedder (no model is loaded), killed for
real (SIGKILL) at one named crash point; the next sync runs in this process.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import sync_documents
from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE, DOCUMENTS_TABLE
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import held_batches
from dagster_project.quality.suites import load_suite
from dagster_project.settings import Settings
from tests.conftest import land
from tests.crash_child import run_child
from tests.ingest.test_crash_points import assert_publish_events_once, audit_branches

pytestmark = pytest.mark.slow  # a documents sync in a child process killed at every crash point

FAKE = "tests.documents.fakes:bag_of_words"
BROKEN = "tests.documents.fakes:broken"  # NaN vectors: the chunk suite fails
PASSING = [
    "sync.staged",
    "wap.branch_committed",
    "wap.auditing",
    "wap.audit_passed",
    "wap.published",
    "wap.branch_removed",
    "sync.documents_committed",
    "audit_log.before_append",
    "audit_log.appended",
]
# A sync of a new document, after a first one: the vector index is then updated, not rebuilt.
UPDATING = ["wap.published", "sync.documents_committed"]
ADDED = "# Privacy\n\n" + "We keep your address only as long as we need it to deliver your order. " * 12
# A sync whose every document fails (NaN vectors): each document is held back on its own, once.
FAILING = ["holds.before_append", "sync.staged", "sync.documents_committed"]

ARTICLES = {
    "returns.md": "# Returns\n\n"
    + "You may return any item within thirty days of delivery for a refund. " * 12,
    "shipping.md": "# Shipping\n\n"
    + "Orders ship from our warehouse within two working days by courier. " * 12,
    "warranty.md": "# Warranty\n\n"
    + "Every product carries a two year warranty against manufacturing faults. " * 12,
}


def chunk_suite(settings: Settings):
    """The chunk table's suite, as the curated documents asset loads it."""
    return load_suite(CHUNKS_TABLE, {f.name for f in CHUNKS_SCHEMA.fields}, settings.expectations_dir)


def _settings(root: Path, embedder: str) -> Settings:
    settings = Settings.for_data_dir(root / "data", sensor_min_file_age_seconds=0, embedder=embedder)
    for name, text in ARTICLES.items():
        land(settings, f"documents/{name}", text)
    ingest_documents(settings, load_documents_config(settings.documents_file), run_id="ingest")
    return settings


def _sync(settings: Settings, run_id: str):
    config = load_documents_config(settings.documents_file)
    embedder = load_embedder(settings.embedder)
    return sync_documents(settings, config, embedder, run_id=run_id, suite=chunk_suite(settings))


@dataclass(frozen=True)
class Synced:
    chunk_ids: list[str]
    documents: list[str]
    index_rows: int


def _state(settings: Settings, index_rows: int) -> Synced:
    catalog = open_catalog(settings)
    chunks = catalog.load_table(CHUNKS_TABLE).scan(selected_fields=("chunk_id",)).to_arrow()
    documents = catalog.load_table(DOCUMENTS_TABLE).scan(selected_fields=("document_id",)).to_arrow()
    return Synced(
        sorted(chunks["chunk_id"].to_pylist()), sorted(documents["document_id"].to_pylist()), index_rows
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Synced:
    """What one uninterrupted sync of the same documents gives."""
    settings = _settings(tmp_path_factory.mktemp("clean"), FAKE)
    return _state(settings, _sync(settings, "clean").index_rows)


def _add(settings: Settings) -> None:
    land(settings, "documents/privacy.md", ADDED)
    ingest_documents(settings, load_documents_config(settings.documents_file), run_id="add")


@pytest.fixture(scope="module")
def clean_added(tmp_path_factory) -> Synced:
    """What uninterrupted syncs before and after the new document give."""
    settings = _settings(tmp_path_factory.mktemp("clean-added"), FAKE)
    _sync(settings, "first")
    _add(settings)
    return _state(settings, _sync(settings, "second").index_rows)


def _crash(settings: Settings, point: str) -> None:
    spec = {"job": "sync", "data_dir": settings.data_dir, "run_id": "crashed", "point": point}
    child = run_child({**spec, "settings": {"embedder": settings.embedder}})
    assert child.returncode == -signal.SIGKILL, f"never reached {point}: {child.stdout}{child.stderr}"


@pytest.mark.parametrize("point", PASSING)
def test_a_sync_killed_anywhere_is_made_good_by_the_next_one(tmp_path, clean, point):
    settings = _settings(tmp_path, FAKE)
    _crash(settings, point)
    chunks = open_catalog(settings).load_table(CHUNKS_TABLE)
    assert held_batches(chunks) == [], "held back, but no check failed"
    report = _sync(settings, "rerun")
    after = _state(settings, report.index_rows)
    assert after == clean  # each chunk once, every document once, the index complete
    assert audit_branches(settings, CHUNKS_TABLE) == []
    assert assert_publish_events_once(settings, CHUNKS_TABLE) == 1
    assert assert_publish_events_once(settings, DOCUMENTS_TABLE) == 1


@pytest.mark.parametrize("point", UPDATING)
def test_an_update_sync_killed_after_its_publish_leaves_a_complete_index(tmp_path, clean_added, point):
    settings = _settings(tmp_path, FAKE)
    _sync(settings, "first")
    _add(settings)
    _crash(settings, point)
    report = _sync(settings, "rerun")
    assert _state(settings, report.index_rows) == clean_added
    assert audit_branches(settings, CHUNKS_TABLE) == []
    assert assert_publish_events_once(settings, CHUNKS_TABLE) == 2


@pytest.mark.parametrize("point", FAILING)
def test_a_sync_holding_documents_killed_anywhere_holds_each_once_on_the_next_one(tmp_path, point):
    settings = _settings(tmp_path, BROKEN)
    _crash(settings, point)
    report = _sync(settings, "rerun")
    assert not report.gate.held_back  # nothing names the batch: each document holds back its own
    assert [h["document"] for h in report.held] == sorted(ARTICLES)
    catalog = open_catalog(settings)
    holds = catalog.load_table("ops.document_holds").scan().to_arrow().to_pylist()
    assert sorted(h["document_id"] for h in holds) == sorted(ARTICLES)  # each once, whoever recorded it
    assert {h["decision"] for h in holds} == {"held"} and all(
        "embedding_finite" in h["failed"] for h in holds
    )
    chunks = catalog.load_table(CHUNKS_TABLE)
    assert held_batches(chunks) == [] and audit_branches(settings, CHUNKS_TABLE) == []
    assert chunks.scan().to_arrow().num_rows == 0  # main never saw them
    statuses = catalog.load_table(DOCUMENTS_TABLE).scan(selected_fields=("status",)).to_arrow()
    assert set(statuses["status"].to_pylist()) == {"held"}
