"""Landing sensors: one per dataset, requesting one run per new or modified file version."""

import json
import time

import dagster as dg

from dagster_project.defs.raw.assets import asset_key
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.ops import quarantined_landing_versions
from dagster_project.lakehouse.publish import landing_versions
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import LandedFile, open_landing
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings


def sensor_name(dataset: Dataset) -> str:
    return f"{dataset.name}_landing_sensor"


def run_key(dataset: Dataset, file: LandedFile) -> str:
    """One run key per file version: a re-tick never resubmits it, a modified file gets a new one."""
    return f"{dataset.name}:{file.key}:{file.version}"


def new_files(
    files: list[LandedFile],
    cursor: str | None,
    *,
    now_ns: int,
    min_age_seconds: int,
    limit: int,
    lookback_seconds: int,
) -> tuple[list[LandedFile], str | None]:
    """The next file versions to ingest, oldest first, at most `limit`; and the cursor after them.

    The cursor holds the newest modification time handed out (the watermark) and the versions
    handed out within `lookback_seconds` below it. Files are taken in modification-time order,
    so a backlog drains in order across ticks; a modified file has a new version and is taken
    again; a file that shows up late with an older time (an S3 multipart upload carries its start
    time, `cp -p` keeps the old one) is still taken if it is within the lookback window. The
    cursor therefore stays bounded by the files landing in that window, however many there are
    in all. Files younger than `min_age_seconds` may still be being written and wait.
    """
    state = json.loads(cursor) if cursor else {}
    watermark = int(state.get("watermark_ns", -1))
    recent: dict[str, list] = state.get("recent", {})
    horizon = watermark - lookback_seconds * 1_000_000_000
    settled_before = now_ns - min_age_seconds * 1_000_000_000
    fresh = sorted(
        f
        for f in files
        if horizon < f.mtime_ns <= settled_before and (recent.get(f.key) or [None])[0] != f.version
    )
    batch = fresh[:limit]
    if not batch:
        return [], cursor
    for f in batch:
        recent[f.key] = [f.version, f.mtime_ns]
    watermark = max(watermark, batch[-1].mtime_ns)
    horizon = watermark - lookback_seconds * 1_000_000_000
    recent = {key: value for key, value in recent.items() if value[1] > horizon}
    return batch, json.dumps({"watermark_ns": watermark, "recent": recent}, separators=(",", ":"))


def _handled_versions(settings: Settings, dataset: Dataset) -> set[tuple[str, str]]:
    """File versions already handled (on main, held on an audit branch, or quarantined): no run for them."""
    catalog = open_catalog(settings)
    quarantined = quarantined_landing_versions(catalog, dataset.name)
    if not catalog.table_exists(dataset.table):
        return quarantined
    return landing_versions(catalog.load_table(dataset.table)) | quarantined


def files_to_run(
    settings: Settings, dataset: Dataset, listed: list[LandedFile], cursor: str | None
) -> tuple[list[LandedFile], list[LandedFile], str | None]:
    """Listed file versions not yet handled, and of those the ones due this tick with the next cursor."""
    handled = _handled_versions(settings, dataset)
    files = [f for f in listed if (f.uri, f.version) not in handled]
    batch, cursor = new_files(
        files,
        cursor,
        now_ns=time.time_ns(),
        min_age_seconds=settings.sensor_min_file_age_seconds,
        limit=settings.sensor_max_files_per_tick,
        lookback_seconds=settings.sensor_lookback_seconds,
    )
    return files, batch, cursor


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
        landing = open_landing(settings)
        files = [f for f in landing.list(dataset.prefix) if dataset.matches(f.key)]
        files, batch, cursor = files_to_run(settings, dataset, files, context.cursor)
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
