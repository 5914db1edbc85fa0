"""Where the seconds of one drop went, read from the Dagster instance's runs and event log.

Used by `bench_latency.py`: given the moment a file was dropped and the moment its rows showed up in
the curated table, find the run that ingested it and the run (the same one, or the automation's)
whose dbt step built the models, and split the time into phases that add up to the total:

- detect: drop → the ingest run created (sensor interval, minimum file age, the tick itself);
- run start: run created → the raw step started (run queue, run worker process, definitions load);
- ingest: the raw step (ingest, quality gate, commit, freshness check);
- handoff: the raw step done → the dbt step started (the automation tick and a second run's start,
  or only the next step of the same run);
- dbt: the dbt step until `dbt build` returned (working-database sync, dbt start-up and parse, build);
- publish: `dbt build` returned → the rows seen in the curated table (Write-Audit-Publish per model).
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter

RAW = AssetKey(["raw", "orders"])
CURATED = AssetKey(["curated", "orders"])
# Logged by the dbt step (defs/dbt/assets.py) when `dbt build` returned.
DBT_DONE = "dbt build returned"
PHASES = ("detect", "run_start", "ingest", "handoff", "dbt", "publish")


@dataclass
class Step:
    run_id: str
    created: float
    start: float
    end: float | None
    marks: dict[str, float]


def _runs_after(instance: DagsterInstance, since: float):
    from datetime import UTC, datetime

    records = instance.get_run_records(RunsFilter(created_after=datetime.fromtimestamp(since, UTC)))
    return sorted(records, key=lambda r: r.create_timestamp.timestamp())


def _step(instance: DagsterInstance, record, asset: AssetKey) -> Step | None:
    """The step of `record`'s run that materializes `asset` (its start, end and log marks), if any."""
    run = record.dagster_run
    if run.asset_selection is not None and asset not in run.asset_selection:
        return None
    step_key, start, end, marks = None, None, None, {}
    logs = instance.all_logs(run.run_id)
    for entry in logs:
        event = entry.dagster_event
        if event is not None and event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            if event.asset_key == asset:
                step_key = entry.step_key
    if step_key is None:
        return None
    for entry in logs:
        if entry.step_key != step_key:
            continue
        event = entry.dagster_event
        if event is None:
            if entry.user_message.startswith(DBT_DONE):
                marks[DBT_DONE] = entry.timestamp
            continue
        if event.event_type == DagsterEventType.STEP_START and start is None:
            start = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            end = entry.timestamp
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key == asset:
            marks["materialized"] = entry.timestamp
    if start is None:
        return None
    return Step(run.run_id, record.create_timestamp.timestamp(), start, end, marks)


def breakdown(instance: DagsterInstance, dropped: float, seen: float) -> dict[str, float | str]:
    """Seconds per phase (see the module docstring) of the drop at `dropped`, seen curated at `seen`."""
    ingest = build = None
    for record in _runs_after(instance, dropped):
        ingest = ingest or _step(instance, record, RAW)
        found = _step(instance, record, CURATED)
        if found and found.start >= dropped and (ingest is None or found.start >= ingest.start):
            build = found
        if ingest and build:
            break
    if ingest is None or build is None:
        return {"error": "runs not found in the instance"}
    ingest_end = ingest.marks.get("materialized") or ingest.end or ingest.start
    dbt_done = build.marks.get(DBT_DONE, build.start)
    phases = {
        "detect": ingest.created - dropped,
        "run_start": ingest.start - ingest.created,
        "ingest": ingest_end - ingest.start,
        "handoff": build.start - ingest_end,
        "dbt": dbt_done - build.start,
        "publish": seen - dbt_done,
    }
    result: dict[str, float | str] = {k: round(v, 1) for k, v in phases.items()}
    result["runs"] = 1 if ingest.run_id == build.run_id else 2
    return result
