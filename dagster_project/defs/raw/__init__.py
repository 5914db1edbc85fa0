"""Raw layer: landing files → Iceberg `raw.<dataset>` tables, generated from the source registry."""

from __future__ import annotations

import logging

import dagster as dg

from dagster_project.defs.held import build_held_jobs, held_checked
from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.raw.freshness import build_freshness_sensor
from dagster_project.defs.raw.sensors import build_landing_sensors
from dagster_project.lakehouse.evolution import schema_conflicts
from dagster_project.registry import Registry
from dagster_project.settings import Settings


def defs(registry: Registry, settings: Settings) -> dg.Definitions:
    freshness = build_freshness_sensor(registry)
    # Registry type changes the raw tables cannot take in place: shown on their own asset (and
    # logged here, in the code server's log), so that one dataset's mistake hides no other asset.
    conflicts = schema_conflicts(settings, registry)
    for conflict in conflicts.values():
        logging.getLogger(__name__).error("%s", conflict)
    assets = build_raw_assets(registry, settings.expectations_dir, conflicts)
    return dg.Definitions(
        assets=assets,
        jobs=build_held_jobs({".".join(a.key.path) for a in assets if held_checked(a)}),
        sensors=[
            *build_landing_sensors(registry, settings.sensor_interval_seconds),
            *([freshness] if freshness else []),
        ],
    )
