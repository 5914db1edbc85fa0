"""Table maintenance: compaction, snapshot expiry and orphan removal over every table, daily."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.maintenance.assets import build_maintenance_assets
from dagster_project.defs.maintenance.schedules import build_maintenance_schedule
from dagster_project.settings import Settings


def defs(settings: Settings) -> dg.Definitions:
    assets = build_maintenance_assets()
    return dg.Definitions(assets=assets, schedules=[build_maintenance_schedule(assets)])
