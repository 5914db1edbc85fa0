"""Landing sensors: one per dataset, requesting one run per new or modified file version."""

import json
import time

import dagster as dg
from blake3 import blake3
from pyiceberg.exceptions import NoSuchTableError

from dagster_project.defs.raw.assets import asset_key
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.handled_files import handled_index
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import LandedFile, Skipped, open_landing
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings


def sensor_name(dataset: Dataset) -> str:
    return f"{dataset.name}_landing_sensor"


def run_key(dataset: Dataset, file: LandedFile) -> str:
    """One run key per file version: a re-tick never resubmits it, a modified file gets a new one.

    The key appears as its label (valid, printable text, as run keys are stored); when the label
    differs from the key (undecodable bytes, control characters), a hash of the key's bytes keeps
    the run key unique to the file.
    """
    name = file.label
    if name != file.key:
        name += "#" + blake3(file.key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{dataset.name}:{name}:{file.version}"


def file_tag(file: LandedFile) -> str:
    """The `foundation/file` tag: the key's label (tags must be text of at most 200 characters)."""
    return file.label[:200]


def skipped_note(skipped: list[Skipped]) -> str:
    """`2 entries skipped (FIFO, symbolic link)`, or "" when the listing skipped nothing."""
    if not skipped:
        return ""
    whys = ", ".join(sorted({s.why for s in skipped}))
    return f"{len(skipped)} {'entry' if len(skipped) == 1 else 'entries'} skipped ({whys})"


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

    The cursor holds the newest change time handed out (the watermark; a file's change time is
    the newer of its mtime and ctime, so an in-place edit that restores an old mtime counts as
    now) and the versions handed out within `lookback_seconds` below it. Files are taken in
    change-time order,
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
        (
            f
            for f in files
            if horizon < f.changed_ns <= settled_before and (recent.get(f.key) or [None])[0] != f.version
        ),
        key=lambda f: (f.changed_ns, f.key),
    )
    batch = fresh[:limit]
    if not batch:
        return [], cursor
    for f in batch:
        recent[f.key] = [f.version, f.changed_ns]
    watermark = max(watermark, batch[-1].changed_ns)
    horizon = watermark - lookback_seconds * 1_000_000_000
    recent = {key: value for key, value in recent.items() if value[1] > horizon}
    return batch, json.dumps({"watermark_ns": watermark, "recent": recent}, separators=(",", ":"))


def _handled_versions(settings: Settings, dataset: Dataset) -> set[tuple[str, str]]:
    """File versions handled (on main, held on an audit branch, quarantined, a duplicate): no run for them.

    Read from the handled-files manifest filtered by dataset (plus the summaries of any snapshot it
    lacks), not by walking every snapshot summary of the table.
    """
    catalog = open_catalog(settings)
    try:  # one load of the table's metadata (`table_exists` would load it too)
        table = catalog.load_table(dataset.table)
    except NoSuchTableError:
        table = None
    # Duplicates recorded before are handled too, unless the dataset now allows them.
    index = handled_index(catalog, dataset.name, table)
    return index.versions(held=True, quarantined=True, duplicates=dataset.duplicates == "skip")


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
        skipped: list[Skipped] = []
        files = [f for f in landing.list(dataset.prefix, skipped=skipped) if dataset.matches(f.key)]
        note = skipped_note(skipped)
        if note:  # links, FIFOs, devices: never read, and no reason to fail the tick
            context.log.warning("%s: %s under %s; they are never read", dataset.name, note, dataset.prefix)
        files, batch, cursor = files_to_run(settings, dataset, files, context.cursor)
        if not batch:
            seen = f"{len(files)} seen" + (f"; {note}" if note else "")
            return dg.SensorResult(skip_reason=f"no new files under {dataset.prefix} ({seen})")
        context.log.info("%s: %d new file version(s), %d listed", dataset.name, len(batch), len(files))
        op_name = "__".join(asset_key(dataset).path)
        requests = [
            dg.RunRequest(
                run_key=run_key(dataset, f),
                run_config={"ops": {op_name: {"config": {"files": [f.key]}}}},
                tags={"foundation/dataset": dataset.name, "foundation/file": file_tag(f)},
            )
            for f in batch
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor


def build_landing_sensors(registry: Registry, interval_seconds: int) -> list[dg.SensorDefinition]:
    return [build_landing_sensor(dataset, interval_seconds) for dataset in registry]
