"""All Dagster definitions of one deployment, assembled per layer from the source registry.

Apart from `dagster_project.definitions` (what Dagster loads: it builds them at import), so that
the command line can build them for its own settings without building them twice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from dagster_project.defs import dbt, documents, maintenance, raw
from dagster_project.defs.resources import Foundation
from dagster_project.registry import load_registry
from dagster_project.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    """All definitions for one deployment's settings (tests pass their own)."""
    registry = load_registry(settings.sources_file)
    return dg.Definitions.merge(
        raw.defs(registry, settings),
        dbt.defs(settings),
        documents.defs(settings),
        maintenance.defs(settings),
        # Steps run inside the run's own process, one after another: a step subprocess would load
        # every definition again (seconds per run, more than a small ingest or dbt build takes).
        dg.Definitions(
            resources={"foundation": Foundation.from_settings(settings)}, executor=dg.in_process_executor
        ),
    )


# The embedded instance's settings (`make instance` copies them into $DAGSTER_HOME).
INSTANCE_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance of the data folder, as `make dev` serves it.

    A data folder the `foundation` command meets first (a new `FOUNDATION_DATA_DIR`, no `make`)
    gets the embedded instance's `dagster.yaml`, as `make instance` writes it; without one, Dagster
    warns on every command and would run with its defaults (telemetry on, no per-dataset limit).
    An existing `dagster.yaml` (the Compose stack's, on PostgreSQL) is left as it is.
    """
    home = settings.dagster_home_dir
    home.mkdir(parents=True, exist_ok=True)
    # With DAGSTER_PG_HOST the instance is PostgreSQL's (`docker/dagster.yaml`, written by make or
    # the image): never an embedded SQLite one that the UI would not show.
    if not (home / "dagster.yaml").exists() and not os.environ.get("DAGSTER_PG_HOST"):
        partial = home / f".dagster.yaml.{os.getpid()}"
        shutil.copyfile(INSTANCE_YAML, partial)
        os.replace(partial, home / "dagster.yaml")  # whole or not at all: a second command may be starting
    return dg.DagsterInstance.from_config(str(home))
