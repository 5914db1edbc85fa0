"""What a run pays before its work starts: no `dbt parse` when the manifest is current, no step process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dagster_project.defs import dbt as dbt_defs
from dagster_project.defs.deployment import build_defs
from dagster_project.settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


@pytest.fixture
def parses(monkeypatch) -> list[list[str]]:
    """The dbt commands the definitions run while loading under `dagster dev` (recorded, not run)."""
    calls: list[list[str]] = []

    class Invocation:
        def wait(self):
            return self

    def cli(self, args, **kwargs):
        calls.append(list(args))
        return Invocation()

    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setattr(dbt_defs.FoundationDbtCli, "cli", cli)
    return calls


def dev_manifest(settings) -> Path:
    """The manifest `dagster dev` parsed into the data folder before (a copy of `make setup`'s)."""
    path = settings.data_dir / "dbt" / "manifest" / "manifest.json"
    path.parent.mkdir(parents=True)
    shutil.copy(MANIFEST, path)
    return path


def test_a_run_worker_loading_the_definitions_does_not_parse_dbt_again(settings, parses):
    # Every run's process loads the definitions: with the manifest newer than the dbt project, a
    # `dbt parse` there (seconds, more than a small build) would only delay the run.
    dev_manifest(settings)
    dbt_defs.defs(settings)
    assert parses == []


def test_an_edited_dbt_project_is_parsed_again_under_dagster_dev(settings, parses):
    # Older than a model file: an edit made after the last parse shows up on reload.
    manifest = dev_manifest(settings)
    os.utime(manifest, (0, 0))
    dbt_defs.defs(settings)
    assert parses == [["parse", "--quiet"]]


def test_runs_execute_their_steps_in_the_run_process(settings):
    # A step subprocess would load every definition again before the ingest or dbt build starts.
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "in_process"
