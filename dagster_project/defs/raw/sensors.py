"""Landing sensors: one per dataset, requesting one run per tick that carries a batch of new file versions."""

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg
from blake3 import blake3
from pyiceberg.exceptions import NoSuchTableError

from dagster_project.defs.flow import flow_assets, flow_selection
from dagster_project.defs.raw.assets import asset_key
from dagster_project.defs.resources import Foundation
from dagster_project.errors import EnvironmentFailure
from dagster_project.lakehouse.ops_tables.handled_files import handled_versions
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import LandedFile, Skipped
from dagster_project.landing.zone import open_landing
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings

if TYPE_CHECKING:  # boto3: imported only in notification mode
    from dagster_project.landing.events import Message
    from dagster_project.landing.s3 import S3Landing


def sensor_name(dataset: Dataset) -> str:
    return f"{dataset.name}_landing_sensor"


def file_run_key(dataset: Dataset, file: LandedFile) -> str:
    """One key per file version: its label (valid, printable text, as run keys are stored) and version.

    When the label differs from the key (undecodable bytes, control characters), a hash of the
    key's bytes keeps it unique to the file.
    """
    name = file.label
    if name != file.key:
        name += "#" + blake3(file.key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{dataset.name}:{name}:{file.version}"


def run_key(dataset: Dataset, batch: Sequence[LandedFile]) -> str:
    """One run key per batch of file versions: a re-tick never resubmits it, a modified file is in a new one.

    A batch of one file keeps the file's own key (`<dataset>:<key>:<version>`); a larger batch is
    `<dataset>:<n> files:<hash>`, the hash of its sorted (key, version) pairs, so the same versions
    give the same key whatever their order and any other version (a file modified since) another.
    """
    if len(batch) == 1:
        return file_run_key(dataset, batch[0])
    pairs = sorted((f.key, f.version) for f in batch)
    digest = blake3(json.dumps(pairs, ensure_ascii=False).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{dataset.name}:{len(batch)} files:{digest[:32]}"


def file_tag(batch: Sequence[LandedFile]) -> str:
    """The `foundation/file` tag: the first file's label, and how many more the run carries.

    Tags must be text of at most 200 characters: the label is cut, never the count.
    """
    more = f" (+{len(batch) - 1} more)" if len(batch) > 1 else ""
    return batch[0].label[: 200 - len(more)] + more


def batch_tags(dataset: Dataset, batch: Sequence[LandedFile]) -> dict[str, str]:
    """Tags of a batch's run: the dataset (one run at a time per dataset), first file, file count."""
    return {
        "foundation/dataset": dataset.name,
        "foundation/file": file_tag(batch),
        "foundation/files": str(len(batch)),
    }


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
    max_bytes: int | None = None,
    everything: bool = False,
) -> tuple[list[LandedFile], str | None]:
    """The next file versions to ingest, oldest first; and the cursor after them.

    The batch holds at most `limit` files and, past its first file, at most `max_bytes` bytes
    (a file larger than that is a batch of its own).

    The cursor holds the newest change time handed out (the watermark; a file's change time is
    the newer of its mtime and ctime, so an in-place edit that restores an old mtime counts as
    now) and the versions handed out within `lookback_seconds` below it. Files are taken in
    change-time order,
    so a backlog drains in order across ticks; a modified file has a new version and is taken
    again; a file that shows up late with an older time (an S3 multipart upload carries its start
    time, `cp -p` keeps the old one) is still taken if it is within the lookback window. The
    cursor therefore stays bounded by the files landing in that window, however many there are
    in all. Files younger than `min_age_seconds` may still be being written and wait.

    With `everything` (notification mode), a file older than the lookback window is due too: an event
    that comes late, or a file only a reconciling listing finds, is never too old (`handled_versions`
    still rules out what is done). The cursor then keeps every version handed out, however old, or a
    version whose run has not committed yet would be due again; `files_to_run` drops those handled.
    """
    state = json.loads(cursor) if cursor else {}
    watermark = int(state.get("watermark_ns", -1))
    recent: dict[str, list] = state.get("recent", {})
    horizon = -1 if everything else watermark - lookback_seconds * 1_000_000_000
    settled_before = now_ns - min_age_seconds * 1_000_000_000
    fresh = sorted(
        (
            f
            for f in files
            if horizon < f.changed_ns <= settled_before and (recent.get(f.key) or [None])[0] != f.version
        ),
        key=lambda f: (f.changed_ns, f.key),
    )
    batch = capped(fresh, limit, max_bytes)
    if not batch:
        return [], cursor
    for f in batch:
        recent[f.key] = [f.version, f.changed_ns]
    watermark = max(watermark, batch[-1].changed_ns)
    horizon = watermark - lookback_seconds * 1_000_000_000
    if not everything:  # notification mode keeps a version handed out until it is handled (files_to_run)
        recent = {key: value for key, value in recent.items() if value[1] > horizon}
    return batch, json.dumps({"watermark_ns": watermark, "recent": recent}, separators=(",", ":"))


def capped(files: list[LandedFile], limit: int, max_bytes: int | None) -> list[LandedFile]:
    """The first files that fit `limit` files and `max_bytes` bytes; always the first one."""
    if max_bytes is None:
        return files[:limit]
    taken = 0
    for count, f in enumerate(files[:limit]):
        taken += f.size
        if count and taken > max_bytes:
            return files[:count]
    return files[:limit]


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
    return handled_versions(catalog, dataset, table)


def _due(settings: Settings, files: list[LandedFile], cursor: str | None, now_ns: int, everything: bool):
    return new_files(
        files,
        cursor,
        now_ns=now_ns,
        min_age_seconds=settings.sensor_min_file_age_seconds,
        limit=settings.sensor_max_files_per_run,
        lookback_seconds=settings.sensor_lookback_seconds,
        max_bytes=settings.sensor_max_bytes_per_run,
        everything=everything,
    )


def files_to_run(
    settings: Settings,
    dataset: Dataset,
    listed: list[LandedFile],
    cursor: str | None,
    everything: bool = False,
    root: str = "",
) -> tuple[list[LandedFile], list[LandedFile], str | None]:
    """Listed file versions not yet handled, and of those the ones due this tick with the next cursor.

    `everything`: no lookback window (notification mode, see `new_files`); the cursor's versions
    handed out are kept until handled (their URIs are `<root>/<key>`, `root` the landing zone's URI).
    """
    handled = _handled_versions(settings, dataset)
    files = [f for f in listed if (f.uri, f.version) not in handled]
    batch, cursor = _due(settings, files, cursor, time.time_ns(), everything)
    if everything and batch and cursor:
        state = json.loads(cursor)
        state["recent"] = {
            key: value
            for key, value in state.get("recent", {}).items()
            if (f"{root}/{key}", value[0]) not in handled
        }
        cursor = json.dumps(state, separators=(",", ":"))
    return files, batch, cursor


def more_due(
    settings: Settings, files: list[LandedFile], cursor: str | None, everything: bool = False
) -> bool:
    """Whether files beyond this tick's batch are due already (a backlog the next ticks drain)."""
    return bool(_due(settings, files, cursor, time.time_ns(), everything)[0])


def batch_request(
    context: dg.SensorEvaluationContext,
    settings: Settings,
    dataset: Dataset,
    files: list[LandedFile],
    batch: list[LandedFile],
    cursor: str | None,
    everything: bool = False,
    how: str = "",
) -> dg.RunRequest:
    """The run of one batch (its files in the config, keyed by its versions).

    `how`, in notification mode: where the files came from (`listed`, `n event message(s)`).
    """
    context.log.info(
        "%s: %d new file version(s), %d seen%s",
        dataset.name,
        len(batch),
        len(files),
        f", {how}" if how else "",
    )
    op_name = "__".join(asset_key(dataset).path)
    # The models ready to build ride along once the backlog is drained: while more files are due,
    # the next batch should not wait (its dataset's slot) for a build the last batch's run makes.
    drained = not more_due(settings, files, cursor, everything)
    return dg.RunRequest(
        run_key=run_key(dataset, batch),
        run_config={"ops": {op_name: {"config": {"files": [f.key for f in batch]}}}},
        asset_selection=flow_selection(context, asset_key(dataset)) if drained else [asset_key(dataset)],
        tags=batch_tags(dataset, batch),
    )


def build_landing_sensor(dataset: Dataset, interval_seconds: int) -> dg.SensorDefinition:
    """The landing sensor of one dataset: it lists its prefix, or in notification mode drains its queue."""

    @dg.sensor(
        name=sensor_name(dataset),
        description=f"Watches `{dataset.prefix}{dataset.glob}` in the landing zone; a run per tick carries "
        "the new file versions.",
        asset_selection=flow_assets(asset_key(dataset)),  # the raw asset and the models downstream
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext, foundation: Foundation) -> dg.SensorResult:
        settings = foundation.settings()
        if settings.landing_queue_url:
            return _notified_tick(context, settings, dataset)
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
        request = batch_request(context, settings, dataset, files, batch, cursor)
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return landing_sensor


# Notification mode: the dataset's queue says which objects to look at. The due decision and the run
# request are the listing's (`files_to_run`, `handled_versions`): events only replace the listing. A
# full listing still runs on the first tick and at most every FOUNDATION_LANDING_RECONCILE_SECONDS (and
# again each tick until it finds nothing more due), for events that were lost or came before the queue.
LISTED = "listed_ns"  # the cursor's time of the last reconciling listing that left nothing due


def _state(cursor: str | None) -> dict:
    return json.loads(cursor) if cursor else {}


def _notified(
    landing: "S3Landing", dataset: Dataset, message: "Message", skipped: list[Skipped] | None
) -> list[LandedFile]:
    """The dataset's files a message names (another dataset's keys, other buckets: none)."""
    files = []
    for c in message.created:
        file = landing.notified(dataset.prefix, c.bucket, c.key, c.time, c.size, c.etag, skipped)
        if file is not None and dataset.matches(file.key):
            files.append(file)
    return files


def _notified_tick(
    context: dg.SensorEvaluationContext, settings: Settings, dataset: Dataset
) -> dg.SensorResult:
    """One tick: drain the queue (or list, when a reconciling listing is due), request a run, settle.

    A message is deleted only once its file is handled, or was requested by an earlier tick, whose
    cursor Dagster has stored: a message naming a file this tick requests (or one still too young, or
    past this run's limits) is made visible again, and the next tick deletes it. So a tick whose result
    Dagster never stored (the daemon stopped after the sensor ran) loses no event: the next tick finds
    the file still due and requests it again. A queue that cannot be reached skips the tick.
    """
    from dagster_project.landing.events import open_queue  # boto3's SQS only in this mode

    landing = open_landing(settings)
    queue = open_queue(settings, dataset.name)
    assert queue is not None  # the settings have a queue, and the landing zone is S3 (load_settings checks)
    now = time.time_ns()
    listed_ns = _state(context.cursor).get(LISTED)
    reconcile = (
        listed_ns is None or now - int(listed_ns) >= settings.landing_reconcile_seconds * 1_000_000_000
    )
    messages: list[Message] = []
    skipped: list[Skipped] = []
    try:
        messages = queue.receive()
        # What each message names; on a listing tick only to settle it (the listing reports skips).
        named = {id(m): _notified(landing, dataset, m, None if reconcile else skipped) for m in messages}
        if reconcile:
            files = [f for f in landing.list(dataset.prefix, skipped=skipped) if dataset.matches(f.key)]
        else:
            files = list({(f.key, f.version): f for fs in named.values() for f in fs}.values())
        files, batch, cursor = files_to_run(
            settings, dataset, files, context.cursor, everything=True, root=landing.uri
        )
    except EnvironmentFailure as exc:  # the queue or the store: retried next tick, never a quarantine
        queue.settle([], messages)
        return dg.SensorResult(skip_reason=f"{dataset.name}: {exc}")
    note = skipped_note(skipped)
    if note:
        context.log.warning("%s: %s under %s; they are never read", dataset.name, note, dataset.prefix)
    state = _state(cursor)
    if reconcile:  # versions handed out stay until handled or gone: the listing says which are left
        left = {f.key for f in files}
        state["recent"] = {key: value for key, value in state.get("recent", {}).items() if key in left}
    if reconcile and not more_due(settings, files, cursor, everything=True):
        listed_ns = now  # a backlog the listing found is drained by listing again next tick
    if listed_ns is not None:
        state[LISTED] = int(listed_ns)
    cursor = json.dumps(state, separators=(",", ":"))
    # Known to a stored cursor: requested by an earlier tick (this tick's cursor is not stored yet).
    stored = _state(context.cursor).get("recent", {})
    waiting = {(f.key, f.version) for f in files if (stored.get(f.key) or [None])[0] != f.version}
    how = "listed" if reconcile else f"{len(messages)} event message(s)"
    if batch:
        request = batch_request(context, settings, dataset, files, batch, cursor, everything=True, how=how)
        result = dg.SensorResult(run_requests=[request], cursor=cursor)
    else:
        seen = f"{len(files)} to handle, {how}" + (f"; {note}" if note else "")
        result = dg.SensorResult(skip_reason=f"no new files under {dataset.prefix} ({seen})", cursor=cursor)
    later = [m for m in messages if any((f.key, f.version) in waiting for f in named[id(m)])]
    done = [m for m in messages if not any((f.key, f.version) in waiting for f in named[id(m)])]
    queue.settle(done, later)
    return result


def build_landing_sensors(registry: Registry, interval_seconds: int) -> list[dg.SensorDefinition]:
    return [build_landing_sensor(dataset, interval_seconds) for dataset in registry]
