"""A document sync on a real local Ray cluster gives the in-process answer, and survives a killed actor.

Each test lands the same documents into two data dirs and syncs one in-process and one through the
cluster (tests/servers/ray_cluster.py: a head and one worker node of 2 CPUs): the same chunk rows and
ids, vectors equal within float tolerance, the same curated.documents rows, the same holds. The
documents are extracted in-process on both sides, so only chunking and embedding differ.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, build_document_assets
from dagster_project.defs.resources import Foundation
from dagster_project.demo.sample_data.documents import write_documents
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.holds import held_documents
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import SyncReport, sync_documents
from dagster_project.documents_catch_up import materialization_metadata
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.documents.fakes import BagOfWords
from tests.documents.test_held_documents import BAD, GOOD, POISONED

pytestmark = pytest.mark.slow
DIES_ONCE = "tests.documents.test_on_ray:dies_once"
KILL = re.compile(r"KILL-ONCE (\S+)")


class DiesOnce(BagOfWords):
    """Bag of words, but the first process to embed a text naming a marker (`KILL-ONCE <path>`) that
    does not exist yet writes it (its pid) and kills itself with SIGKILL: a worker lost mid-batch."""

    name = "dies-once-16"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            match = KILL.search(text)
            if match and not Path(match[1]).exists():
                Path(match[1]).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts)


def dies_once() -> DiesOnce:
    return DiesOnce()


class Lines(logging.Handler):
    """The run log's lines, kept for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _pair(tmp_path: Path, cluster, documents: dict[str, str] | None, **values) -> tuple[Settings, Settings]:
    """Two data dirs with the same landed, extracted documents: in-process, and on the cluster."""
    pair = []
    for name, address in (("in_process", None), ("on_cluster", cluster.address)):
        plain = Settings.for_data_dir(tmp_path / name, sensor_min_file_age_seconds=0, **values)
        landing = Path(plain.landing_uri.removeprefix("file://"))
        if documents is None:
            write_documents(landing)
        for key, text in (documents or {}).items():
            land(plain, f"documents/{key}", text)
        ingest_documents(plain, load_documents_config(plain.documents_file), run_id="ingest")
        pair.append(
            Settings.for_data_dir(
                tmp_path / name, sensor_min_file_age_seconds=0, ray_address=address, **values
            )
        )
    return pair[0], pair[1]


def _sync(settings: Settings, log: logging.Logger | None = None) -> SyncReport:
    return sync_documents(
        settings,
        load_documents_config(settings.documents_file),
        load_embedder(settings.embedder),
        run_id="sync",
        suite=chunk_suite(settings.expectations_dir),
        log=log,
    )


def _rows(settings: Settings, table: str, key: str) -> list[dict]:
    rows = open_catalog(settings).load_table(table).scan().to_arrow().to_pylist()
    for row in rows:
        del row["_synced_at"], row["_run_id"]  # when and by which run: the rest must be equal
        if "_source_file" in row:  # the data dirs differ
            row["_source_file"] = row["_source_file"].removeprefix(settings.landing_uri)
    return sorted(rows, key=lambda r: r[key])


def _assert_same_answer(local: Settings, remote: Settings) -> list[dict]:
    """The chunks, vectors, curated documents and holds of both data dirs agree; returns the chunks."""
    ours, theirs = (_rows(s, "curated.document_chunks", "chunk_id") for s in (local, remote))
    assert [r["chunk_id"] for r in theirs] == [r["chunk_id"] for r in ours]
    assert len({r["chunk_id"] for r in theirs}) == len(theirs)  # each chunk landed once
    for a, b in zip(ours, theirs, strict=True):
        va, vb = a.pop("embedding"), b.pop("embedding")
        assert a == b
        assert (va is None) == (vb is None)
        if va is not None:
            assert np.allclose(va, vb, atol=1e-5)
    assert _rows(remote, "curated.documents", "document_id") == _rows(
        local, "curated.documents", "document_id"
    )
    held = [
        [(h.document_id, h.version, h.failed, h.chunk_id, h.reason) for h in held_documents(s)]
        for s in (local, remote)
    ]
    assert held[0] == held[1]
    return ours


def test_the_knowledge_base_synced_on_the_cluster_is_the_in_process_one(tmp_path, ray_cluster):
    # The real model (MiniLM), loaded by one actor: two would load it at once on the worker's 2 CPUs.
    local, remote = _pair(tmp_path, ray_cluster, None, ray_embedding_actors=1)
    lines = Lines()
    log = logging.getLogger("test_on_ray.minilm")
    log.addHandler(lines)
    log.setLevel(logging.INFO)

    in_process, on_cluster = _sync(local), _sync(remote, log)

    assert in_process.execution == "in-process"
    assert on_cluster.execution.startswith(f"Ray cluster at {ray_cluster.address}: 2 node(s), 2 CPU(s)")
    assert on_cluster.chunks_embedded == in_process.chunks_embedded > 0
    chunks = _assert_same_answer(local, remote)
    assert len(chunks) == in_process.chunks_total == on_cluster.chunks_total
    # The run log names the cluster and follows the embedding to its end.
    assert any(line.startswith("Ray cluster at") for line in lines.lines)
    n = on_cluster.chunks_embedded
    assert f"embedding on the cluster: {n}/{n} chunk(s) (100%)" in lines.lines


def test_held_documents_and_the_metadata_of_a_run_on_the_cluster(tmp_path, ray_cluster):
    local, remote = _pair(tmp_path, ray_cluster, {**GOOD, **BAD}, embedder=POISONED)
    in_process = _sync(local)
    config = load_documents_config(remote.documents_file)
    result = dg.materialize(  # the curated assets as Dagster runs them (raw is already extracted)
        build_document_assets(config, remote.expectations_dir)[1:],
        resources={"foundation": Foundation.from_settings(remote)},
        raise_on_error=False,
    )

    assert {h.document_id for h in held_documents(remote)} == set(BAD)
    _assert_same_answer(local, remote)
    assert in_process.execution == "in-process"
    for key in (DOCUMENTS_KEY, CHUNKS_KEY):
        execution = materialization_metadata(result, key)["execution"]
        assert execution.startswith(f"Ray cluster at {remote.ray_address}: 2 node(s)")


def test_an_embedding_worker_killed_mid_sync_is_retried_and_its_chunks_land_once(tmp_path, ray_cluster):
    marker = tmp_path / "killed.pid"
    documents = {
        **GOOD,
        "faults.md": "# Faults\n\n## Kill\n\nKILL-ONCE " + str(marker) + " is the marker the fake embedder "
        "looks for.\n\n## After\n\n" + "The sync carries on once the actor is back. " * 10,
    }
    # Batches of 2 texts: the killed batch is one of several, the others are not embedded twice.
    local, remote = _pair(tmp_path, ray_cluster, documents, embedder=DIES_ONCE, ray_embedding_batch_size=2)

    on_cluster = _sync(remote)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # an actor's worker died mid-sync
    in_process = _sync(local)  # the marker exists now: this process is not killed

    assert on_cluster.chunks_embedded == in_process.chunks_embedded > 2
    chunks = _assert_same_answer(local, remote)
    assert len(chunks) == on_cluster.chunks_total
    cache = open_catalog(remote).load_table("ops.embedding_cache").scan().to_arrow()
    assert cache.num_rows == len(set(cache["cache_key"].to_pylist())) == on_cluster.chunks_embedded


def test_ray_data_keeps_its_own_lines_off_the_terminal(capsys):
    """Ray Data's per-dataset INFO lines (and its 'Progress bars disabled' warning) stay out of the CLI."""
    from dagster_project.documents.on_ray import quiet_ray_data_console

    quiet_ray_data_console()
    logging.getLogger("ray.data").info("Starting execution of Dataset dataset_0")
    logging.getLogger("ray.data").warning("Progress bars disabled.")
    assert capsys.readouterr().err == ""
