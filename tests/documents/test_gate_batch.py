"""A batch-wide expectation (`duplicate_ratio`) holds back the document that fails it, not the batch.

A real corpus brought it up: one LaTeX manual whose PDF extraction gave thousands of `#### ∗`
chunks (no word, all alike) held back a batch of 105 documents, because the duplicate ratio is
a ratio over the whole batch. Now the documents held for their own chunks leave first, a
batch-wide expectation still failing is judged on each document's own chunks, and only when the
rest still fails as a whole (duplicates spread across documents) is the whole batch held.
The fake bag-of-words embedder stands in for the model (the vectors are not the point).
"""

from __future__ import annotations

from dagster_project.cli import main as cli_main
from dagster_project.documents.chunking import chunk_document, chunk_id
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.holds import held_documents
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import SyncReport, sync_documents
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.documents.fakes import BagOfWords
from tests.documents.test_crash_points import chunk_suite

FAKE = "tests.documents.fakes:bag_of_words"

GOOD = {
    "returns.md": "# Returns\n\n"
    + "You may return any item within thirty days of delivery for a refund. " * 12,
    "shipping.md": "# Shipping\n\n"
    + "Orders ship from our warehouse within two working days by courier. " * 12,
    "warranty.md": "# Warranty\n\n"
    + "Every product carries a two year warranty against manufacturing faults. " * 12,
}
# What the manual's PDF extraction gave: each option's heading, then a symbol-only heading.
MANUAL = "# Manual\n\n" + "".join(
    f"## Option {i}\n\nSets option {i} for every chapter of the document.\n\n#### ∗\n\n" for i in range(30)
)
# Words in every chunk, yet the same note under each option: more than 5% of its chunks repeat.
NOTES = "# Notes\n\n" + "".join(
    f"## Option {i}\n\nSets option {i}.\n\n### Note\n\nSee below.\n\n" for i in range(8)
)


def _sync(tmp_path, documents: dict[str, str]) -> tuple[Settings, SyncReport]:
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, embedder=FAKE)
    for name, text in documents.items():
        land(settings, f"documents/{name}", text)
    config = load_documents_config(settings.documents_file)
    ingest_documents(settings, config, run_id="ingest")
    report = sync_documents(settings, config, BagOfWords(), run_id="sync", suite=chunk_suite(settings))
    return settings, report


def _published(settings: Settings) -> set[str]:
    table = open_catalog(settings).load_table("curated.document_chunks")
    return set(table.scan(selected_fields=("document_id",)).to_arrow()["document_id"].to_pylist())


def _curated(settings: Settings) -> dict[str, dict]:
    table = open_catalog(settings).load_table("curated.documents")
    return {r["document_id"]: r for r in table.scan().to_arrow().to_pylist()}


def test_a_document_of_empty_and_duplicate_chunks_is_held_and_the_others_publish(tmp_path):
    settings, report = _sync(tmp_path, {**GOOD, "manual.md": MANUAL})
    assert report.gate is not None and not report.gate.held_back and not report.gate.failed
    assert _published(settings) == set(GOOD)

    [held] = held_documents(settings)
    assert held.document_id == "manual.md"
    # Its reasons name the chunk it failed on and both expectations its own chunks fail.
    assert held.failed == ("no_empty_chunks", "duplicate_ratio")
    curated = _curated(settings)
    assert curated["manual.md"]["status"] == "held"
    assert (
        "no_empty_chunks, duplicate_ratio failed on chunk " + held.chunk_id in curated["manual.md"]["reason"]
    )
    assert {d for d, r in curated.items() if r["status"] == "indexed"} == set(GOOD)


def test_a_document_whose_own_chunks_repeat_is_held_alone(tmp_path, monkeypatch, capsys):
    settings, report = _sync(tmp_path, {**GOOD, "notes.md": NOTES})
    assert report.gate is not None and not report.gate.held_back and not report.gate.failed
    assert _published(settings) == set(GOOD)

    [held] = held_documents(settings)
    assert held.document_id == "notes.md" and held.failed == ("duplicate_ratio",)
    # The chunk named is the first one whose text repeats: option 0's note.
    config = load_documents_config(settings.documents_file)
    chunks = chunk_document(_curated(settings)["notes.md"]["text"], config.chunking_for("documents/notes.md"))
    [first] = [c for c in chunks if c.text.startswith("### Note")][:1]
    assert held.chunk_id == chunk_id("notes.md", first.position, first.text)
    assert "duplicate_ratio failed on chunk" in _curated(settings)["notes.md"]["reason"]

    # A reviewer accepts it: its repeats no longer hold it, and the batch's gate still passes.
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_EMBEDDER", FAKE)
    assert cli_main(["release", "curated.documents", "notes.md"]) == 0
    assert "notes.md: released" in capsys.readouterr().out
    assert _published(settings) == set(GOOD) | {"notes.md"}
    assert held_documents(settings) == []


def test_duplicates_spread_across_documents_still_hold_the_whole_batch(tmp_path):
    """No document repeats a chunk of its own, yet a third of the batch's chunks are one text."""
    shared = "\n\n## Contact\n\nWrite to the help desk through the form on the contact page any day.\n"
    settings, report = _sync(tmp_path, {name: text + shared for name, text in GOOD.items()})
    assert report.gate is not None and report.gate.held_back
    assert [r.expectation.name for r in report.gate.failed] == ["duplicate_ratio"]
    assert held_documents(settings) == []
    assert _published(settings) == set()
