"""Freshness of raw datasets: a check per dataset that fails when no new file landed within its window.

Dagster's own freshness policy (on the raw assets) looks at materializations, and a raw asset also
materializes when a run found nothing new (a held batch does not materialize). This check looks at the data
instead: the newest commit on main that carried landed files (`foundation.files` in its snapshot
summary). A batch held on an audit branch never moves main, so it neither refreshes nor ages it.

Evaluated where it costs nothing extra: inside the raw asset's own step after each ingest (one of
its checks, no step of its own), and hourly by a sensor in the daemon, which reports the evaluation
without launching a run (so a silent source turns red although nothing runs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from dagster_project.defs.asset_metadata import as_evaluation
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.publish import FILES_PROPERTY
from dagster_project.lakehouse.table_maintenance import files_committed_ms
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import Dataset
from dagster_project.settings import Settings

CHECK_NAME = "freshness_window"
SENSOR_NAME = "freshness_sensor"
# Windows are whole hours or days; an hourly evaluation is late by at most an hour.
SENSOR_INTERVAL_SECONDS = 3600


def asset_key(dataset: Dataset) -> dg.AssetKey:
    return dg.AssetKey(["raw", dataset.name])


def last_file_committed(table: Table) -> tuple[datetime, list[str]] | None:
    """When main last gained rows from landed files, and which files; None if it never did.

    Maintenance commits are not new data: a compaction is skipped, and a checkpoint (which carries
    the file identities of expired snapshots) counts with the time those files were committed.
    """
    head = table.current_snapshot()
    if head is None:
        return None
    # The newest time wins, not the newest snapshot: a checkpoint sits above newer file commits
    # that expiry kept, and carries older files.
    newest: tuple[int, Snapshot] | None = None
    for snapshot in ancestors_of(head, table.metadata):
        when_ms = files_committed_ms(snapshot)
        if when_ms is not None and (newest is None or when_ms > newest[0]):
            newest = (when_ms, snapshot)
    if newest is None:
        return None
    when_ms, snapshot = newest
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    files = [uri for uri, _ in json.loads(summary[FILES_PROPERTY])]
    return datetime.fromtimestamp(when_ms / 1000, tz=UTC), files


def evaluate_freshness(table: Table | None, dataset: Dataset, now: datetime) -> dg.AssetCheckResult:
    """Pass when the dataset's newest landed file was committed within its freshness window."""
    window = timedelta(hours=dataset.freshness_max_age_hours or 0)
    metadata: dict[str, object] = {"max_age_hours": dg.MetadataValue.float(window.total_seconds() / 3600)}
    last = last_file_committed(table) if table is not None else None
    if last is None:
        return dg.AssetCheckResult(
            check_name=CHECK_NAME,
            asset_key=asset_key(dataset),
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{dataset.table}: no file has landed yet; drop one under `{dataset.prefix}`.",
            metadata=metadata,
        )
    when, files = last
    age = now - when
    passed = age <= window
    metadata |= {
        "last_file_committed_at": dg.MetadataValue.timestamp(when),
        "age_hours": dg.MetadataValue.float(round(age.total_seconds() / 3600, 3)),
        "last_files": dg.MetadataValue.json(files[-10:]),
    }
    description = (
        f"{dataset.table}: newest file committed {_hours(age)} ago, within the {_hours(window)} window."
        if passed
        else f"{dataset.table}: no new file for {_hours(age)}, beyond the {_hours(window)} window "
        f"({dataset.owner} owns the export to `{dataset.prefix}`)."
    )
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        asset_key=asset_key(dataset),
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def freshness_specs(dataset: Dataset) -> list[dg.AssetCheckSpec]:
    """The freshness check of a dataset that declares `freshness.max_age_hours` (none otherwise)."""
    if not dataset.freshness_max_age_hours:
        return []
    return [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=asset_key(dataset),
            description=f"A new file of {dataset.name} is committed at least every "
            f"{dataset.freshness_max_age_hours:g} h (registry `freshness.max_age_hours`).",
            blocking=False,
        )
    ]


def freshness_now(settings: Settings, dataset: Dataset) -> dg.AssetCheckResult:
    """The dataset's freshness, read from its table's main now."""
    try:
        table = open_catalog(settings).load_table(dataset.table)
    except NoSuchTableError:
        table = None
    return evaluate_freshness(table, dataset, datetime.now(UTC))


def build_freshness_sensor(registry: Iterable[Dataset]) -> dg.SensorDefinition | None:
    """Evaluates every freshness check hourly in the daemon, reporting the results without a run."""
    datasets = [d for d in registry if d.freshness_max_age_hours]
    if not datasets:
        return None

    @dg.sensor(
        name=SENSOR_NAME,
        description="Evaluates every raw dataset's freshness window hourly (no run: the results are "
        "reported as check evaluations).",
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def freshness_sensor(context: dg.SensorEvaluationContext, foundation: Foundation) -> dg.SensorResult:
        settings = foundation.settings()
        return dg.SensorResult(asset_events=[as_evaluation(freshness_now(settings, d)) for d in datasets])

    return freshness_sensor
