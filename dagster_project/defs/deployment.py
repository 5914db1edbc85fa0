"""All Dagster definitions of one deployment, assembled per layer from the source registry.

Apart from `dagster_project.definitions` (what Dagster loads: it builds them at import), so that
the command line can build them for its own settings without building them twice.
"""

from __future__ import annotations

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
