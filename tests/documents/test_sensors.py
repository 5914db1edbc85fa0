"""The documents sensor: a run per tick carries the new document versions, each with its sidecar."""

from __future__ import annotations

import json

import dagster as dg

from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY
from dagster_project.defs.documents.sensors import build_documents_sensor
from dagster_project.defs.resources import Foundation
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import sync_documents


def _tick(settings, config, cursor=None) -> dg.SensorResult:
    sensor = build_documents_sensor(config, 15)
    context = dg.build_sensor_context(
        cursor=cursor, resources={"foundation": Foundation.from_settings(settings)}
    )
    return sensor(context)


def test_documents_are_handed_out_once_and_a_sidecar_edit_is_a_new_document_version(
    settings, documents_config, knowledge_base
):
    first = _tick(settings, documents_config)
    [batch] = first.run_requests
    files = sorted(batch.run_config["ops"]["raw__documents"]["config"]["files"])
    assert len(files) == 13 and not any(f.endswith(".metadata.json") for f in files)

    ingest_documents(settings, documents_config, run_id="r1")
    # Nothing left to ingest, even with a fresh cursor: the next request syncs the curated layer.
    [sync] = _tick(settings, documents_config).run_requests
    assert set(sync.asset_selection) == {DOCUMENTS_KEY, CHUNKS_KEY}

    sidecar = knowledge_base / "shipping.md.metadata.json"
    sidecar.write_text(json.dumps({"metadataAttributes": {"department": "logistics", "audience": "staff"}}))
    [request] = _tick(settings, documents_config, first.cursor).run_requests
    assert request.run_config["ops"]["raw__documents"]["config"]["files"] == ["documents/shipping.md"]
    report = ingest_documents(settings, documents_config, run_id="r2", keys=["documents/shipping.md"])
    assert [f["file"] for f in report.ingested] == ["documents/shipping.md"]  # a new version landed


def test_a_deleted_document_starts_a_sync_that_removes_its_chunks(settings, documents_config, knowledge_base):
    # (The sync after new versions is the same request: curated.documents behind raw.documents.)
    settings = type(settings)(**{**settings.__dict__, "embedder": "tests.documents.fakes:bag_of_words"})
    ingest_documents(settings, documents_config, run_id="r1")
    sync_documents(settings, documents_config, load_embedder(settings.embedder), run_id="s1")
    assert not _tick(settings, documents_config).run_requests  # nothing new, nothing deleted

    (knowledge_base / "faq.html").unlink()
    [request] = _tick(settings, documents_config).run_requests
    assert set(request.asset_selection) == {DOCUMENTS_KEY, CHUNKS_KEY}
    assert request.run_key == _tick(settings, documents_config).run_requests[0].run_key  # stable: runs once
    report = sync_documents(settings, documents_config, load_embedder(settings.embedder), run_id="s2")
    assert report.removed_documents == ["faq.html"]
    assert not _tick(settings, documents_config).run_requests
