"""Landing sensors: one per dataset, requesting one run per new or modified file version."""

import json
import time

import dagster as dg

from dagster_project.defs.raw.assets import asset_key
from dagster_project.defs.resources import Foundation
from dagster_project.landing.store import LandedFile, open_landing
from dagster_project.registry import Dataset, Registry


def sensor_name(dataset: Dataset) -> str:
    return f"{dataset.name}_landing_sensor"


def run_key(dataset: Dataset, file: LandedFile) -> str:
    """One run key per file version: a re-tick never resubmits it, a modified file gets a new one."""
    return f"{dataset.name}:{file.key}:{file.version}"


def new_files(
    files: list[LandedFile], cursor: str | None, *, now_ns: int, min_age_seconds: int, limit: int
) -> tuple[list[LandedFile], str | None]:
    """The next files past the cursor, oldest first, at most `limit`; and the cursor after them.

    The cursor is the (modification time, key) of the last file handed out, so it stays small
    however many files land, and a modified file (newer mtime) is seen again. Files younger than
    `min_age_seconds` may still be being written and wait for a later tick.
    """
    state = json.loads(cursor) if cursor else {}
    watermark = (int(state.get("mtime_ns", -1)), str(state.get("key", "")))
    settled_before = now_ns - min_age_seconds * 1_000_000_000
    fresh = sorted(f for f in files if (f.mtime_ns, f.key) > watermark and f.mtime_ns <= settled_before)
    batch = fresh[:limit]
    if not batch:
        return [], cursor
    last = batch[-1]
    return batch, json.dumps({"mtime_ns": last.mtime_ns, "key": last.key})


def build_landing_sensor(dataset: Dataset, interval_seconds: int) -> dg.SensorDefinition:
    """The landing sensor of one dataset."""

    @dg.sensor(
        name=sensor_name(dataset),
        description=f"Watches `{dataset.prefix}{dataset.glob}` in the landing zone; a run per file version.",
        asset_selection=[asset_key(dataset)],
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext, foundation: Foundation) -> dg.SensorResult:
        settings = foundation.settings()
        landing = open_landing(settings.landing_uri)
        files = [f for f in landing.list(dataset.prefix) if dataset.matches(f.key)]
        batch, cursor = new_files(
            files,
            context.cursor,
            now_ns=time.time_ns(),
            min_age_seconds=settings.sensor_min_file_age_seconds,
            limit=settings.sensor_max_files_per_tick,
        )
        if not batch:
            return dg.SensorResult(skip_reason=f"no new files under {dataset.prefix} ({len(files)} seen)")
        context.log.info("%s: %d new file version(s), %d listed", dataset.name, len(batch), len(files))
        op_name = "__".join(asset_key(dataset).path)
        requests = [
            dg.RunRequest(
                run_key=run_key(dataset, f),
                run_config={"ops": {op_name: {"config": {"files": [f.key]}}}},
                tags={"foundation/dataset": dataset.name, "foundation/file": f.key[:200]},
            )
            for f in batch
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor


def build_landing_sensors(registry: Registry, interval_seconds: int) -> list[dg.SensorDefinition]:
    return [build_landing_sensor(dataset, interval_seconds) for dataset in registry]
