"""Catch-up: ingests every landed file version not yet handled, in batches per dataset, as the sensors would.

Each dataset's due files go in runs of up to `FOUNDATION_SENSOR_MAX_FILES_PER_RUN` files and
`FOUNDATION_SENSOR_MAX_BYTES_PER_RUN` bytes (the landing sensor's own cut, `sensors.capped`), so the fast
lane, the read-ahead and the per-file gate work here as under the sensors. Each file still gets its own
`Outcome`, read from what its run recorded (`file_outcomes` on the raw asset's event).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.defs.deployment import build_defs
from dagster_project.defs.raw.sensors import batch_tags, capped
from dagster_project.ingest.run import listed_files
from dagster_project.lakehouse.ops_tables.handled_files import handled_versions
from dagster_project.lakehouse.tables import CatalogCorrupt, TableUnreadable, ensure_raw_table, open_catalog
from dagster_project.landing.names import label
from dagster_project.landing.store import LandedFile
from dagster_project.registry import Dataset, load_registry
from dagster_project.run_failures import headline
from dagster_project.run_failures import where_to_look as run_log
from dagster_project.run_progress import QUIET_UP_TO_FILES, with_progress
from dagster_project.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one landed file in its dataset's run (`run_id`, shared by the files of a batch)."""

    dataset: str
    key: str
    run_id: str
    success: bool
    materialized: bool
    rows: int = 0
    quarantined: int = 0
    set_apart: int = 0  # rows whose values do not fit their column's type (in ops.quarantine)
    duplicates: int = 0  # files skipped: the same bytes were taken under another key
    dropped: int = 0
    gate: str = "-"
    audit_branch: str = ""
    failed_expectations: str = ""
    error: str = ""  # why the run failed (its first error line), or why none was started
    reasons: tuple[str, ...] = ()  # why its file was quarantined (the record's message)

    @property
    def held_back(self) -> bool:
        return self.gate == "HELD BACK"

    @property
    def failed(self) -> bool:
        """A run that failed for another reason than its batch being held back on purpose."""
        return not self.success and not self.held_back


@dataclass
class Pending:
    """What catch-up has to do: file versions due per dataset, and datasets whose table does not load."""

    files: list[tuple[str, str]] = field(default_factory=list)  # (dataset, landing key)
    due: dict[str, list[LandedFile]] = field(default_factory=dict)  # dataset -> its versions due, in order
    blocked: dict[str, str] = field(default_factory=dict)  # dataset -> the error


def pending_work(
    settings: Settings, datasets: Collection[str] | None = None, *, retry_quarantined: bool = False
) -> Pending:
    """Every file version not on main, quarantined, held back or a recorded duplicate; a broken table
    blocks its own dataset only. A dataset with no file landed is left alone (no table is made for it).

    Args:
        settings: Where the landing zone and the catalog are.
        datasets: Only these registry datasets (all when None).
        retry_quarantined: Versions quarantined whole are due again (after a registry fix).

    Raises:
        CatalogCorrupt: The catalog itself is unusable (nothing is ingested anywhere).
    """
    catalog = open_catalog(settings)
    pending = Pending()
    selected = [d for d in load_registry(settings.sources_file) if datasets is None or d.name in datasets]
    for dataset, files in listed_files(settings, selected):  # listed all at once, in registry order
        if not files:
            continue
        try:
            table = ensure_raw_table(catalog, dataset)
            # An older table, or a crash after a commit, is indexed once (record=True).
            known = handled_versions(
                catalog, dataset, table, retry_quarantined=retry_quarantined, record=True
            )
        except (TableUnreadable, CatalogCorrupt) as exc:
            # CatalogCorrupt here is one table missing beside its old metadata, not the whole catalog.
            log.error("%s: skipped: %s", dataset.name, exc)
            pending.blocked[dataset.name] = str(exc)
            continue
        due = [f for f in files if (f.uri, f.version) not in known]
        if due:
            pending.due[dataset.name] = due
            pending.files += [(dataset.name, f.key) for f in due]
    return pending


def first_error(result: dg.ExecuteInProcessResult) -> str:
    """The first line of the first error of a failed run: a step's failure, else the run's."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError",):
                error = error.cause
            return _first_line(error.message)
    failure = result.get_run_failure_event()
    if failure is not None and failure.message:
        return _first_line(failure.message)
    return "the run failed without an error message"


def _first_line(text: str) -> str:
    return headline(text) or text


def failure(settings: Settings, result: dg.ExecuteInProcessResult) -> str:
    """`FAILED: <first error line>` and, on the next line, where the run's whole log is."""
    return f"FAILED: {first_error(result)}\n      see {where_to_look(settings, result.run_id)}"


def where_to_look(settings: Settings, run_id: str) -> str:
    """Where a failed run's whole log is: its id in the Dagster UI of this data folder."""
    return f"run {run_id}, its whole log: {run_log(run_id)} (Dagster instance {settings.dagster_home_dir})"


def catch_up(
    settings: Settings,
    instance: dg.DagsterInstance,
    *,
    datasets: Collection[str] | None = None,
    retry_quarantined: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_progress: Callable[[str, str], None] | None = None,
) -> list[Outcome]:
    """Run the raw asset once per batch of unhandled files of each dataset, in registry order (customers
    before orders); one outcome per file.

    A dataset whose table does not load gets one failed outcome with the error, and no run; the
    other datasets go on.

    Args:
        settings: The platform's settings.
        instance: The Dagster instance the runs are recorded in.
        datasets: Only these registry datasets (all when None).
        retry_quarantined: Each run tries again the file versions quarantined before.
        on_outcome: Called with each outcome as soon as it is known (progress; a batch's at its end).
        on_progress: Called with (dataset, line) as a batch of more than 20 files starts and with each
            of its progress lines (`run_progress.py`), while its run goes on.
    """
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    registry = load_registry(settings.sources_file)
    pending = pending_work(settings, datasets, retry_quarantined=retry_quarantined)
    outcomes = [
        Outcome(dataset, f"{dataset}/", "", False, False, error=error)
        for dataset, error in pending.blocked.items()
    ]
    for outcome in outcomes:
        if on_outcome is not None:
            on_outcome(outcome)
    for name, files in pending.due.items():
        cut = batches(settings, files)
        for number, batch in enumerate(cut, start=1):
            progress = None if on_progress is None else functools.partial(on_progress, name)
            if progress is not None and len(batch) > QUIET_UP_TO_FILES:
                of = f" ({number} of {len(cut)})" if len(cut) > 1 else ""
                progress(f"{len(batch)} files in one run{of}")
            for outcome in _run_batch(job, instance, registry[name], batch, retry_quarantined, progress):
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    return outcomes


def batches(settings: Settings, files: list[LandedFile]) -> list[list[LandedFile]]:
    """The files cut into runs as the landing sensor cuts a backlog: up to its files and bytes per run."""
    out: list[list[LandedFile]] = []
    while files:
        out.append(capped(files, settings.sensor_max_files_per_run, settings.sensor_max_bytes_per_run))
        files = files[len(out[-1]) :]
    return out


def _run_batch(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    dataset: Dataset,
    batch: list[LandedFile],
    retry_quarantined: bool,
    on_progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """One run of the raw asset over a batch (the sensor's tags); each file's outcome from what it recorded.

    A run that failed for another reason than a hold fails each of its files with the run's error.
    """
    op = f"raw__{dataset.name}"
    config = {"files": [f.key for f in batch], **({"retry_quarantined": True} if retry_quarantined else {})}
    run_config = {
        "ops": {op: {"config": config}},
        # Callers summarise; Dagster's own log of each run is in the UI.
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    job, run_config = with_progress(job, run_config, len(batch), on_progress)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(["raw", dataset.name])],
        run_config=run_config,
        tags=batch_tags(dataset, batch),
    )
    # A held batch materializes nothing: what it held is on its observation of the asset.
    reported = result.asset_materializations_for_node(op) or result.asset_observations_for_node(op)
    md = {name: v.value for name, v in reported[0].metadata.items()} if reported else {}
    gate = str(md.get("quality_gate", "-"))
    held = gate in ("HELD BACK", "FILES HELD BACK")
    error = "" if result.success else first_error(result)
    if not reported or (error and not held):  # the run failed: each of its files did, with its error
        return [
            Outcome(dataset.name, f.key, result.run_id, False, bool(reported), error=error) for f in batch
        ]
    return [_file_outcome(dataset.name, f.key, result.run_id, md, error) for f in batch]


def _file_outcome(dataset: str, key: str, run_id: str, md: dict, error: str) -> Outcome:
    """One file's outcome from its batch's metadata (`file_outcomes`); a file not listed was skipped."""
    done = md.get("file_outcomes", {}).get(label(key), {})
    done = {"rows": done} if isinstance(done, int) else done
    held = "held" in done  # on its own, or with the whole batch (then `held` is empty)
    gate = str(md.get("quality_gate", "-"))
    return Outcome(
        dataset,
        key,
        run_id,
        not held,  # a file held back is not a success, as its own run was not; the others of the batch are
        True,
        rows=int(done.get("rows", 0)),
        quarantined=int(bool(done.get("quarantined"))),
        set_apart=int(done.get("set_apart", 0)),
        duplicates=int(done.get("duplicate", 0)),
        dropped=int(done.get("dropped", 0)),
        gate="HELD BACK" if held else "passed" if gate != "-" else "-",
        audit_branch=str(md.get("audit_branch", "")) if held else "",
        failed_expectations=(done.get("held") or str(md.get("failed_expectations", ""))) if held else "",
        error=error if held else "",
        reasons=tuple(done.get("quarantined", ())),
    )


@dataclass(frozen=True)
class ModelRun:
    """What one dbt model did in a build: rows written and whether they reached main."""

    table: str
    rows_written: int
    gate: str
    total_rows: int | None
    held_back_because: str = ""
    checks_passed: int = 0
    failed_checks: tuple[str, ...] = ()  # blocking (severity ERROR)
    warned_checks: tuple[str, ...] = ()  # failed with severity WARN: recorded, not blocking
    not_run_checks: tuple[str, ...] = ()  # `<dbt test>: <why>`, a model it reads has no data yet


@dataclass
class ModelBuild:
    """One dbt run: whether it succeeded, each model's outcome, and why it failed."""

    success: bool
    models: list[ModelRun]
    run_id: str = ""
    error: str = ""  # the first error line of a failed run
    selected: list[str] = field(default_factory=list)  # the models asked for
    waiting: dict[str, str] = field(default_factory=dict)  # model left out → the upstream never built
    behind: dict[str, str] = field(default_factory=dict)  # model → why it was behind its inputs
    full_refresh: dict[str, str] = field(default_factory=dict)  # model → why the build was a full refresh
    failures: dict[str, str] = field(default_factory=dict)  # model → its error's kind and cause


def build_models(
    settings: Settings, instance: dg.DagsterInstance, full_refresh: bool = False
) -> tuple[bool, list[ModelRun]]:
    """One run of every staging and curated model, as the automation sensor would start it.

    dbt's own log goes to the run's logs (the UI), not to this process's output.
    """
    build = run_models(settings, instance, full_refresh=full_refresh)
    return build.success, build.models


def run_models(
    settings: Settings,
    instance: dg.DagsterInstance,
    *,
    changed: Collection[dg.AssetKey] | None = None,
    behind: bool = False,
    full_refresh: bool = False,
) -> ModelBuild:
    """One run of the staging and curated models: all of them, or those downstream of `changed` and of
    the models behind their inputs (`transform/behind.py`: a failed build, a retry, a rebuild).

    A model is left out (in `waiting`) when a model it reads was never built and is not built now,
    as Dagster's eager automation waits for missing upstreams. The run is a full refresh by itself
    when a raw table was rebuilt after a selected model's watermark (`full_refresh` says why).

    Args:
        settings: The platform's settings.
        instance: The Dagster instance the run is recorded in.
        changed: Raw asset keys that got new rows; None (and not `behind`) builds every model.
        behind: Also build the models behind their inputs, and those downstream of them.
        full_refresh: Rebuild the models from every raw row.
    """
    from dagster_project.defs.dbt.assets import dbt_project, load_manifest
    from dagster_project.transform.behind import full_refresh_reasons, models_behind
    from dagster_project.transform.build import manifest_models

    defs = build_defs(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    manifest = load_manifest(dbt_project())
    models = {k for k in graph.get_all_asset_keys() if "dbt" in graph.get(k).kinds}
    lags = models_behind(settings, manifest) if behind else {}
    keys, waiting = sorted(models), {}
    if changed is not None or behind:
        roots = {*(changed or ()), *(dg.AssetKey(table.split(".")) for table in lags)}
        keys, waiting = _downstream_models(settings, graph, models, roots)
    selected = [".".join(k.path) for k in keys]
    build = ModelBuild(True, [], selected=selected, waiting=waiting)
    # Why a model is built, when it is not already because a raw table it reads got rows now.
    fed = {".".join(k.path) for k in dg.AssetSelection.assets(*(changed or ())).downstream().resolve(graph)}
    build.behind = {
        table: lag.reason for table, lag in lags.items() if table in selected and table not in fed
    }
    uids = [uid for uid, m in manifest_models(manifest).items() if m.table in selected]
    build.full_refresh = {} if full_refresh else full_refresh_reasons(settings, manifest, uids)
    if not keys:
        return build
    with contextlib.redirect_stdout(io.StringIO()):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=keys,
            run_config={
                "ops": {"dbt_models": {"config": {"full_refresh": full_refresh}}},
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            tags={"foundation/trigger": "catch-up"},
        )
    build.success, build.run_id = result.success, result.run_id
    build.error = "" if result.success else first_error(result)
    build.failures = _failed_models(result)
    evaluations = result.get_asset_check_evaluations()
    for m in result.asset_materializations_for_node("dbt_models"):
        md = {k: v.value for k, v in m.metadata.items()}
        checks = [e for e in evaluations if e.asset_key == m.asset_key]
        failed = [e for e in checks if not e.passed]
        build.models.append(
            ModelRun(
                table=".".join(m.asset_key.path),
                rows_written=int(md.get("rows_written", 0)),
                gate=str(md.get("quality_gate", "-")),
                total_rows=md.get("dagster/row_count"),
                held_back_because=str(md.get("held_back_because", "")),
                checks_passed=sum(e.passed for e in checks),
                failed_checks=tuple(
                    sorted(e.check_name for e in failed if e.severity != dg.AssetCheckSeverity.WARN)
                ),
                warned_checks=tuple(
                    sorted(e.check_name for e in failed if e.severity == dg.AssetCheckSeverity.WARN)
                ),
                not_run_checks=tuple(f"{t}: {w}" for t, w in sorted(md.get("dbt_tests_not_run", {}).items())),
            )
        )
    return build


def _failed_models(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Model → the kind and cause of its error, as the dbt step's failure lists them."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.user_failure_data is not None:
            value = event.step_failure_data.user_failure_data.metadata.get("failed_models")
            if value is not None:
                return dict(value.value)
    return {}


def _downstream_models(
    settings: Settings, graph, models: set[dg.AssetKey], changed: Collection[dg.AssetKey]
) -> tuple[list[dg.AssetKey], dict[str, str]]:
    """The models downstream of `changed` whose upstreams (raw or model) exist or are built too; the others'
    reason."""
    catalog = open_catalog(settings)
    wanted = dg.AssetSelection.assets(*changed).downstream().resolve(graph) & models
    chosen: list[dg.AssetKey] = []
    waiting: dict[str, str] = {}
    for key in graph.toposorted_asset_keys:
        if key not in wanted:
            continue
        missing = [
            ".".join(up.path)
            for up in sorted(graph.get(key).parent_keys)
            # A raw table too: a dataset never landed has none (eager automation waits for it as well).
            if up not in chosen and not catalog.table_exists(".".join(up.path))
        ]
        if missing:
            waiting[".".join(key.path)] = ", ".join(missing)
        else:
            chosen.append(key)
    return chosen, waiting
