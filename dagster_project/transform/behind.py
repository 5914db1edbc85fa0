"""Which models are behind their inputs, and which of them must be rebuilt in full.

A staging model records in its Iceberg snapshot summary the raw sequence number it has read of
each source (its watermark, `lakehouse/changes.py`). It is behind when a raw table it reads has
commits after that, whoever made them (a sensor's run, `foundation retry`, `foundation rebuild`)
and whether or not the build that should have followed them failed: the raw commit is never lost,
only the build. A model is also behind when it has no table yet while every model it reads has one,
or when its last build did not publish (its working-database marker is not main's snapshot: the
publish failed), unless a batch of it is held back by its gate (that waits for a release or a
discard, not for another build of the same inputs). A model downstream of one that is behind is
built after it.

A raw commit after the watermark that is not an append (the swap of `foundation rebuild`) cannot be
read incrementally: the consumer needs a full refresh, which the next build does by itself.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from dagster_project.lakehouse.changes import WATERMARK_PROPERTY, changed_in_place, watermarks
from dagster_project.lakehouse.held import held_batches
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import main_head
from dagster_project.settings import Settings
from dagster_project.transform import working_db
from dagster_project.transform.build import incremental_sources, manifest_models


@dataclass(frozen=True)
class Lag:
    """Why a model is behind, and why it needs a full refresh ('' when an incremental build will do)."""

    reason: str
    full_refresh: str = ""


class _Tables:
    """Iceberg tables by name, each loaded once (None when it does not exist)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog, self._tables = catalog, {}

    def get(self, name: str) -> Table | None:
        if name not in self._tables:
            try:
                self._tables[name] = self.catalog.load_table(name)
            except NoSuchTableError:
                self._tables[name] = None
        return self._tables[name]


def _held_watermark(consumer: Table | None, source: str) -> int:
    """How far into `source` a batch of `consumer` held back by its gate has read (0: none held).

    Such a batch waits for a person (release or discard): a build of the same inputs would only hold
    another copy of it, so the model is behind only once `source` has commits after what it read.
    """
    if consumer is None:
        return 0
    read = 0
    for batch in held_batches(consumer):
        snapshot = consumer.metadata.snapshot_by_id(batch.snapshot_id)
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        marks = json.loads(summary.get(WATERMARK_PROPERTY, "{}"))
        read = max(read, int(marks.get(source, 0)))
    return read


def _source_lag(consumer: Table | None, source: str, raw: Table | None) -> Lag | None:
    """Whether `consumer` has not read every commit of the raw table `source`, and how it must read it."""
    head = raw.current_snapshot() if raw is not None else None
    if head is None:
        return None
    after = watermarks(consumer).get(source, 0)
    if head.sequence_number <= max(after, _held_watermark(consumer, source)):
        return None
    if after == 0:
        return Lag(f"never built from {source}" if consumer is None else f"has read nothing of {source}")
    change = changed_in_place(raw, after)
    return Lag(
        f"{source} has commits after sequence {after}, the last it read",
        f"{source}: {change} after sequence {after} (a rebuild), so its rows are read again in full"
        if change
        else "",
    )


def full_refresh_reasons(
    settings: Settings, manifest: Mapping[str, Any], uids: Collection[str]
) -> dict[str, str]:
    """Model table → why it must be rebuilt in full, for the models `uids` that must be.

    Only watermarks are read (not the working database): the dbt asset calls this before its build.
    """
    models = manifest_models(manifest)
    tables = _Tables(open_catalog(settings))
    reasons = {}
    for uid in uids:
        if uid not in models:
            continue
        consumer = tables.get(models[uid].table)
        for source in incremental_sources(manifest, uid):
            lag = _source_lag(consumer, source, tables.get(source))
            if lag is not None and lag.full_refresh:
                reasons[models[uid].table] = lag.full_refresh
    return reasons


def _markers(settings: Settings) -> dict[str, int] | None:
    """Model table → the Iceberg snapshot its working-database copy was last published as; None when
    there is no working database here (or dbt holds it: then the markers are not known)."""
    if not settings.dbt_working_db.exists():
        return None
    try:
        con = duckdb.connect(str(settings.dbt_working_db), read_only=True)
    except duckdb.Error:
        return None
    try:
        return dict(con.execute(f"SELECT model, snapshot_id FROM {working_db.MARKERS}").fetchall())
    except duckdb.Error:  # no marker table yet
        return None
    finally:
        con.close()


def models_behind(settings: Settings, manifest: Mapping[str, Any]) -> dict[str, Lag]:
    """Model table (`staging.stg_orders`) → why it is behind, for every model that is (see the module)."""
    models = manifest_models(manifest)
    tables = _Tables(open_catalog(settings))
    markers = _markers(settings)
    behind: dict[str, Lag] = {}
    for uid, model in models.items():
        consumer = tables.get(model.table)
        lags = [
            lag
            for source in incremental_sources(manifest, uid)
            if (lag := _source_lag(consumer, source, tables.get(source))) is not None
        ]
        upstream = [models[d].table for d in manifest["nodes"][uid]["depends_on"]["nodes"] if d in models]
        if lags:
            behind[model.table] = Lag(
                "; ".join(lag.reason for lag in lags),
                "; ".join(lag.full_refresh for lag in lags if lag.full_refresh),
            )
        elif consumer is None:
            inputs = [tables.get(t) for t in upstream]
            if inputs and all(t is not None for t in inputs) and any(main_head(t) for t in inputs):
                behind[model.table] = Lag(f"never built, and {', '.join(upstream)} have rows")
        elif markers is not None and (head := main_head(consumer)) is not None:
            marker = markers.get(model.table)
            # A batch held back by its gate waits for a person (release or discard): building the
            # same inputs again would only hold another copy of it.
            if (
                marker != head
                and not working_db.same_rows_since(consumer, marker)
                and not held_batches(consumer)
            ):
                behind[model.table] = Lag("its last build did not publish")
    return behind
