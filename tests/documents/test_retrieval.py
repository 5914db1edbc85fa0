"""Hybrid retrieval: BM25 fused with vectors finds exact identifiers; filters and incremental sync hold."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

import lancedb
import numpy as np
import pytest

from dagster_project.documents.config import COLUMNS, TABLE, DocumentsConfig
from dagster_project.documents.index import LANCE_TABLE, STATE_FILE, SearchError, search
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.retrieve import FTS_COLUMN, fuse
from dagster_project.documents.sync import sync_documents
from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE
from dagster_project.lakehouse.tables import LINEAGE_FIELDS
from dagster_project.quality.suites import load_suite
from dagster_project.settings import Settings

# Ticket TW-4266 is long and says "ticket" once; the policies are short. The identifier-blind
# embedder below then ranks the policies first for "TW-4266", as a small embedding model that
# splits the code into word pieces every ticket shares would.
DOCUMENTS = {
    "tickets/TW-4266.md": "# Ticket TW-4266: audit export gets AccessDenied\n\n"
    "Greyfriars University's hourly audit export to their storage bucket failed with AccessDenied. "
    "The bucket policy allowed the export role to list the bucket but not to write objects into it. "
    "They added write permission for the export role on the prefix, and the next hourly export "
    "delivered the backlog of events that had accumulated since the failures began.\n",
    "policies/annual-leave.md": "# Annual leave\n\nFull-time employees have 28 days of paid holiday "
    "a year plus public holidays; up to five unused days carry into the next year.\n",
    "policies/on-call.md": "# On-call\n\nEngineers on the rotation cover one week at a time and "
    "acknowledge a page for a major incident within five minutes of it arriving.\n",
    "policies/remote-work.md": "# Remote work\n\nYou may work from home or any office, and from "
    "another country for up to thirty days a year after telling People Ops.\n",
}
_DIGITS = re.compile(r"\d")


class IdentifierBlind:
    """Hashed bag of words that ignores tokens with digits, plus a bias every text shares."""

    name = "identifier-blind-32"
    dimension = 32

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = 1.0
        for i, text in enumerate(texts):
            for word in re.findall(r"[\w-]+", text.lower()):
                if not _DIGITS.search(word):
                    out[i, 1 + sum(word.encode()) % (self.dimension - 1)] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def embedder() -> IdentifierBlind:
    return IdentifierBlind()


def _land(settings: Settings, documents: dict[str, str], sidecars: dict[str, dict] | None = None) -> Path:
    folder = Path(settings.landing_uri.removeprefix("file://")) / "documents"
    for key, text in documents.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_text(text, encoding="utf-8")
    for key, attributes in (sidecars or {}).items():
        sidecar = json.dumps({"metadataAttributes": attributes})
        (folder / f"{key}.metadata.json").write_text(sidecar, encoding="utf-8")
    return folder


def _sync(settings: Settings, config: DocumentsConfig, embedder, run: str) -> None:
    columns = {c.name for c in COLUMNS} | {n for n, _, _ in LINEAGE_FIELDS}
    raw_suite = load_suite(TABLE, columns, settings.expectations_dir)
    chunk_suite = load_suite(CHUNKS_TABLE, {f.name for f in CHUNKS_SCHEMA.fields}, settings.expectations_dir)
    ingest_documents(settings, config, run_id=f"ingest-{run}", suite=raw_suite)
    sync_documents(settings, config, embedder, run_id=f"sync-{run}", suite=chunk_suite)


def _documents(settings: Settings, question: str, embedder, **kwargs) -> list[str]:
    hits = search(settings, question, embedder=embedder, **kwargs)
    return list(dict.fromkeys(hit.citation.document_id for hit in hits))


def test_fusion_ranks_what_both_rankings_place_high_first():
    assert list(fuse([["a", "b", "c"], ["b", "d", "a"]])) == ["b", "a", "d", "c"]
    assert list(fuse([["a"], []])) == ["a"]


def test_an_exact_identifier_that_vector_search_misses_is_found_by_hybrid(
    settings, documents_config, embedder, capfd
):
    _land(settings, DOCUMENTS)
    _sync(settings, documents_config, embedder, "1")
    capfd.readouterr()
    vector_only = dataclasses.replace(settings, search_mode="vector")
    assert _documents(vector_only, "TW-4266", embedder, k=3)[0] != "tickets/TW-4266.md"
    assert _documents(settings, "TW-4266", embedder, k=3)[0] == "tickets/TW-4266.md"
    hits = search(settings, "TW-4266", embedder=embedder, k=5)
    assert all(0 < h.score <= 1 for h in hits) and hits == sorted(hits, key=lambda h: -h.score)
    # A question in words still finds its document through both rankings.
    assert _documents(settings, "paid holiday", embedder, k=1) == ["policies/annual-leave.md"]
    # LanceDB's own log stays quiet: `foundation search` prints results, not engine warnings.
    assert "WARN" not in capfd.readouterr().err


def test_filters_apply_before_fusion_in_hybrid_mode(settings, documents_config, embedder):
    sidecars = {k: {"department": "support" if k.startswith("tickets/") else "people"} for k in DOCUMENTS}
    _land(settings, DOCUMENTS, sidecars)
    _sync(settings, documents_config, embedder, "1")
    # BM25 and vectors both rank the ticket first; the filter must win over both.
    people = _documents(settings, "TW-4266 audit export", embedder, k=5, where={"department": "people"})
    assert people and "tickets/TW-4266.md" not in people
    assert set(people) <= {k for k in DOCUMENTS if k.startswith("policies/")}
    by_path = search(
        settings, "TW-4266", embedder=embedder, k=5, where={"path": "documents/policies/on-call.md"}
    )
    assert by_path and {h.citation.source_file for h in by_path} == {"documents/policies/on-call.md"}


def test_incremental_sync_keeps_the_full_text_index_in_step(settings, documents_config, embedder):
    folder = _land(settings, DOCUMENTS)
    _sync(settings, documents_config, embedder, "1")
    assert _documents(settings, "TW-4266", embedder, k=1) == ["tickets/TW-4266.md"]

    (folder / "tickets/TW-4266.md").unlink()
    _land(
        settings,
        {
            "tickets/TW-4301.md": "# Ticket TW-4301: webhook deliveries time out\n\nNorthgate Labs' "
            "endpoint answered after twelve seconds, so every delivery was retried; they moved the "
            "slow work to a queue and now answer at once.\n"
        },
    )
    _sync(settings, documents_config, embedder, "2")
    lance = lancedb.connect(str(settings.vector_index_dir)).open_table(LANCE_TABLE)
    assert any(FTS_COLUMN in index.columns for index in lance.list_indices())
    # The deleted ticket is gone from both rankings; the new one is found by its identifier.
    gone = _documents(settings, "TW-4266 audit export AccessDenied", embedder, k=5)
    assert gone and "tickets/TW-4266.md" not in gone
    assert _documents(settings, "TW-4301", embedder, k=1) == ["tickets/TW-4301.md"]


def test_an_index_of_the_old_layout_is_rebuilt_with_full_text(settings, documents_config, embedder):
    _land(settings, DOCUMENTS)
    _sync(settings, documents_config, embedder, "1")
    # An index written before full-text search: its state has no layout.
    state_file = settings.vector_index_dir / STATE_FILE
    state = json.loads(state_file.read_text(encoding="utf-8"))
    del state["layout"]
    state_file.write_text(json.dumps(state), encoding="utf-8")
    assert _documents(settings, "TW-4266", embedder, k=1) == ["tickets/TW-4266.md"]
    assert "layout" in json.loads(state_file.read_text(encoding="utf-8"))


@pytest.mark.parametrize("mode", ["hybrid", "vector"])
def test_an_empty_index_says_no_documents_indexed_yet(settings, documents_config, embedder, mode):
    with pytest.raises(SearchError, match="no documents indexed yet"):
        search(dataclasses.replace(settings, search_mode=mode), "TW-4266", embedder=embedder)
    _sync(settings, documents_config, embedder, "1")  # a sync with nothing landed: a table, no chunks
    with pytest.raises(SearchError, match="no documents indexed yet"):
        search(dataclasses.replace(settings, search_mode=mode), "TW-4266", embedder=embedder)
