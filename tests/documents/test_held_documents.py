"""Per-document gate: a chunk that fails a blocking expectation holds back its own document only.

The others publish and are searchable; the held document is recorded with the expectation and the
chunk, reported by the documents asset, and released or discarded from the CLI or a Dagster job,
audited. A rerun with nothing changed embeds nothing and holds nothing again. The fake `poisoned`
embedder returns NaN for any text with the word POISON, so `embedding_finite` fails for exactly
that chunk (no model is loaded).
"""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.cli import main as cli_main
from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, build_document_assets
from dagster_project.defs.documents.held import (
    DISCARD_DOCUMENT_JOB,
    HELD_DOCUMENTS_CHECK,
    RELEASE_DOCUMENT_JOB,
    build_document_jobs,
)
from dagster_project.defs.resources import Foundation
from dagster_project.documents.chunking import chunk_document, chunk_id
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.holds import held_documents
from dagster_project.documents.index import SearchError, search
from dagster_project.documents_catch_up import materialization_metadata
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land

pytestmark = pytest.mark.slow  # the documents assets and jobs materialized end to end

POISONED = "tests.documents.fakes:poisoned"
GOOD = {
    "returns.md": "# Returns\n\n"
    + "You may return any item within thirty days of delivery for a refund. " * 12,
    "shipping.md": "# Shipping\n\n"
    + "Orders ship from our warehouse within two working days by courier. " * 12,
}
# One section of each is fine; the other holds the word that makes the fake embedder return NaN.
BAD = {
    "warranty.md": "# Warranty\n\n## Cover\n\n"
    + "Every product carries a two year warranty against manufacturing faults. " * 6
    + "\n\n## Claims\n\nSend the POISON form with your receipt and the serial number of the product.\n",
    "recalls.md": "# Recalls\n\n## Notices\n\n"
    + "We publish every safety recall notice on this page as soon as we learn of it. " * 6
    + "\n\n## Refunds\n\nA recalled item is refunded in full: POISON details follow in the notice.\n",
}


@pytest.fixture
def poisoned(tmp_path) -> Settings:
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, embedder=POISONED)
    for name, text in {**GOOD, **BAD}.items():
        land(settings, f"documents/{name}", text)
    return settings


def _materialize(settings: Settings) -> dg.ExecuteInProcessResult:
    config = load_documents_config(settings.documents_file)
    return dg.materialize(
        build_document_assets(config, settings.expectations_dir),
        resources={"foundation": Foundation.from_settings(settings)},
        raise_on_error=False,
    )


def _job(settings: Settings, name: str, document: str) -> dg.ExecuteInProcessResult:
    jobs = {j.name: j for j in build_document_jobs()}
    op = "release_document" if name == RELEASE_DOCUMENT_JOB else "discard_document"
    return jobs[name].execute_in_process(
        run_config={"ops": {op: {"config": {"document": document}}}},
        resources={"foundation": Foundation.from_settings(settings)},
        raise_on_error=False,
    )


def _chunk_documents(settings: Settings) -> set[str]:
    table = open_catalog(settings).load_table("curated.document_chunks")
    return set(table.scan(selected_fields=("document_id",)).to_arrow()["document_id"].to_pylist())


def _curated(settings: Settings) -> dict[str, dict]:
    table = open_catalog(settings).load_table("curated.documents")
    return {r["document_id"]: r for r in table.scan().to_arrow().to_pylist()}


def _audit(settings: Settings, action: str) -> list[dict]:
    return [r for r in read_audit_log(open_catalog(settings)).to_pylist() if r["action"] == action]


def _poisoned_chunk(settings: Settings, document: str) -> str:
    """The id of the chunk of `document` that holds the poison word (as the sync chunks it)."""
    options = load_documents_config(settings.documents_file).chunking_for(f"documents/{document}")
    text = _curated(settings)[document]["text"]
    [position] = [
        c.position for c in chunk_document(text, options) if "POISON" in c.text and c.level != "parent"
    ]
    [chunk] = [c for c in chunk_document(text, options) if c.position == position]
    return chunk_id(document, position, chunk.text)


def test_a_failing_chunk_holds_back_its_document_only(poisoned):
    result = _materialize(poisoned)
    assert result.success  # the others published: the run did its job, the held ones are in sight

    assert _chunk_documents(poisoned) == set(GOOD)
    hits = search(poisoned, "how many days to return an item", k=3, embedder=load_embedder(POISONED))
    assert hits and {h.citation.document_id for h in hits} <= set(GOOD)

    held = {h.document_id: h for h in held_documents(poisoned)}
    assert set(held) == set(BAD)
    warranty = held["warranty.md"]
    assert warranty.failed == ("embedding_finite",)
    assert warranty.chunk_id == _poisoned_chunk(poisoned, "warranty.md")
    curated = _curated(poisoned)
    assert curated["warranty.md"]["status"] == "held"
    assert "embedding_finite" in curated["warranty.md"]["reason"]
    assert warranty.chunk_id in curated["warranty.md"]["reason"]
    assert {d for d, r in curated.items() if r["status"] == "indexed"} == set(GOOD)

    documents = materialization_metadata(result, DOCUMENTS_KEY)
    assert documents["published"] == sorted(GOOD) and documents["indexed"] == len(GOOD)
    assert documents["held"] == 2
    table = documents["held_documents"]
    assert "warranty.md" in table and "recalls.md" in table and warranty.chunk_id in table
    assert "embedding_finite" in table
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks[HELD_DOCUMENTS_CHECK].passed
    assert checks["embedding_finite"].passed  # what reached main is clean

    # A rerun with nothing changed embeds nothing and holds nothing again.
    again = _materialize(poisoned)
    assert materialization_metadata(again, CHUNKS_KEY)["chunks_embedded"] == 0
    assert materialization_metadata(again, CHUNKS_KEY)["documents_embedded"] == []
    assert len(held_documents(poisoned)) == 2
    holds = open_catalog(poisoned).load_table("ops.document_holds").scan().to_arrow()
    assert holds.num_rows == 2
    assert not {c.check_name: c for c in again.get_asset_check_evaluations()}[HELD_DOCUMENTS_CHECK].passed


def test_the_cli_releases_one_and_the_job_discards_the_other(poisoned, monkeypatch, capsys):
    _materialize(poisoned)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(poisoned.data_dir))
    monkeypatch.setenv("FOUNDATION_EMBEDDER", POISONED)

    assert cli_main(["held"]) == 0
    out = capsys.readouterr().out
    assert (
        "warranty.md" in out and "embedding_finite" in out and "foundation release curated.documents" in out
    )

    assert cli_main(["release", "curated.documents", "warranty.md"]) == 0
    assert "warranty.md: released" in capsys.readouterr().out
    assert _chunk_documents(poisoned) == set(GOOD) | {"warranty.md"}
    [released] = _audit(poisoned, "release")
    assert "warranty.md" in released["statement"] and released["message"].endswith("(via cli)")
    assert _curated(poisoned)["warranty.md"]["status"] == "indexed"
    assert cli_main(["release", "curated.documents", "warranty.md"]) == 2  # no longer held
    assert "not held" in capsys.readouterr().err

    discarded = _job(poisoned, DISCARD_DOCUMENT_JOB, "recalls.md")
    assert discarded.success
    [check] = [c for c in discarded.get_asset_check_evaluations() if c.check_name == HELD_DOCUMENTS_CHECK]
    assert check.passed  # nothing waits for review any more
    assert held_documents(poisoned) == []
    assert "recalls.md" not in _chunk_documents(poisoned)
    [dropped] = _audit(poisoned, "discard")
    assert "recalls.md" in dropped["statement"] and "run " in dropped["message"]
    assert _curated(poisoned)["recalls.md"]["status"] == "discarded"

    # Decided documents stay decided: a rerun embeds nothing and holds nothing.
    again = _materialize(poisoned)
    assert materialization_metadata(again, CHUNKS_KEY)["chunks_embedded"] == 0
    assert held_documents(poisoned) == []
    assert _chunk_documents(poisoned) == set(GOOD) | {"warranty.md"}


def test_the_job_releases_and_the_cli_discards(poisoned, monkeypatch, capsys):
    _materialize(poisoned)
    released = _job(poisoned, RELEASE_DOCUMENT_JOB, "recalls.md")
    assert released.success
    assert "recalls.md" in _chunk_documents(poisoned)
    materialized = [e.asset_key for e in released.get_asset_materialization_events()]
    assert CHUNKS_KEY in materialized  # main moved: the chunks asset says so
    [audit] = _audit(poisoned, "release")
    assert "recalls.md" in audit["statement"] and "run " in audit["message"]
    assert not _job(poisoned, RELEASE_DOCUMENT_JOB, "recalls.md").success  # no longer held

    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(poisoned.data_dir))
    monkeypatch.setenv("FOUNDATION_EMBEDDER", POISONED)
    assert cli_main(["discard", "curated.documents", "warranty.md"]) == 0
    assert "warranty.md: discarded" in capsys.readouterr().out
    assert [h.document_id for h in held_documents(poisoned)] == []
    assert "warranty.md" not in _chunk_documents(poisoned)
    assert len(_audit(poisoned, "discard")) == 1


def test_search_on_an_empty_index_says_no_documents_indexed_yet(tmp_path, monkeypatch, capsys):
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, embedder=POISONED)
    land(settings, "documents/warranty.md", BAD["warranty.md"])
    _materialize(settings)  # its only document is held: the chunk table exists, with no chunk
    assert open_catalog(settings).table_exists("curated.document_chunks")
    with pytest.raises(SearchError, match="no documents indexed yet"):
        search(settings, "warranty", embedder=load_embedder(POISONED))
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_EMBEDDER", POISONED)
    assert cli_main(["search", "--as", "data_engineer", "warranty"]) == 2
    err = capsys.readouterr().err
    assert "no documents indexed yet" in err and "Traceback" not in err


def test_a_failure_of_the_batch_as_a_whole_still_holds_the_batch(tmp_path):
    """Duplicates spread across documents (none repeats itself) blame no document: the batch waits."""
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, embedder=POISONED)
    shared = "\n\n## Contact\n\nWrite to the help desk through the form on the contact page any day.\n"
    for name, text in GOOD.items():
        land(settings, f"documents/{name}", text + shared)
    land(
        settings,
        "documents/care.md",
        "# Care\n\n" + "Clean the product with a dry cloth after use. " * 12 + shared,
    )
    result = _materialize(settings)
    chunks = materialization_metadata(result, CHUNKS_KEY)
    assert chunks["quality_gate"] == "HELD BACK" and chunks["audit_branch"].startswith("audit-")
    assert not {c.check_name: c for c in result.get_asset_check_evaluations()}["duplicate_ratio"].passed
    assert held_documents(settings) == []
    assert open_catalog(settings).load_table("curated.document_chunks").scan().to_arrow().num_rows == 0
