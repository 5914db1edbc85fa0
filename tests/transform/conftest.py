"""The sample landing zone ingested and built through staging and curated once, shared by this folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.catch_up import ModelRun, build_models, catch_up
from dagster_project.cli import sync_sample_data
from dagster_project.settings import Settings


@dataclass
class Built:
    settings: Settings
    instance: dg.DagsterInstance
    success: bool
    models: list[ModelRun]


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`make demo` in a temporary folder: sample files → raw → staging → curated."""
    data = tmp_path_factory.mktemp("sample") / "data"
    settings = Settings.for_data_dir(data, sensor_min_file_age_seconds=0)
    sync_sample_data(settings, seed=42, scale=1.0)
    instance = dg.DagsterInstance.ephemeral()
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    return Built(settings, instance, success, models)


def model_table_names() -> list[str]:
    root = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
    return sorted(f"{p.parent.name}.{p.stem}" for p in root.glob("*/*.sql"))
