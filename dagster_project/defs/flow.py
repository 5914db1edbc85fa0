"""From a landed file to the curated tables in one run, when the automation would build them at once.

A landing run of `raw/<dataset>` also selects the models downstream of it, so the models are built
right after the ingest, in the same process (no second run to wait for: the automation's tick,
the queue, a run worker loading every definition). It does so only when `curated_automation` would
request those models in its next tick anyway: every other asset they read (outside this run) has
been materialized and its latest blocking checks did not fail (the models' condition `eager() &
~upstream_held`). Otherwise the run ingests only, and the automation decides, as after any update.

A batch the gate holds back fails the raw step, so the models in its run do not start (Dagster
skips the steps downstream of a failed one): a held raw batch builds nothing, as before. The models
of a run that did build them count as handled by the automation (their materialization is newer
than the raw update), so it requests no second build of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


def flow_assets(raw: dg.AssetKey) -> dg.AssetSelection:
    """What a landing sensor may request: the raw asset and every model downstream of it."""
    return dg.AssetSelection.assets(raw).downstream()


def ready(instance: dg.DagsterInstance, graph, keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """Those of `keys` that were materialized and whose latest blocking checks did not fail."""
    keys = sorted(keys)
    if not keys:
        return set()
    entries = {r.asset_entry.asset_key: r.asset_entry for r in instance.get_asset_records(keys)}
    good = {key for key in keys if key in entries and entries[key].last_materialization is not None}
    blocking = [k for k in graph.get_check_keys_for_assets(good) if graph.get_check_spec(k).blocking]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(blocking)
    return good - {
        k.asset_key for k, r in latest.items() if r.status == AssetCheckExecutionRecordStatus.FAILED
    }


def flow_selection(context: dg.SensorEvaluationContext, raw: dg.AssetKey) -> list[dg.AssetKey]:
    """The assets of a landing run: `raw`, plus the models downstream of it that are ready to build.

    A model is ready when each asset it reads is `raw`, a model selected here, or an asset outside
    this run that is materialized and not held (`ready`): what `eager() & ~upstream_held` requests
    in the automation's tick after the raw update. The raw asset's own past checks do not count:
    this run's batch is checked again before any model starts.
    """
    if context.repository_def is None:  # a sensor called on its own (tests): no graph to look at
        return [raw]
    graph = context.repository_def.asset_graph
    models = flow_assets(raw).resolve(graph) - {raw}
    parents = {key: set(graph.get(key).parent_keys) for key in models}
    usable = {raw} | ready(context.instance, graph, set().union(*parents.values()) - models - {raw})
    selected: set[dg.AssetKey] = set()
    while True:  # upstream first: a model is ready once every model it reads here is
        more = {key for key in models - selected if parents[key] <= usable | selected}
        if not more:
            return [raw, *sorted(selected)]
        selected |= more
