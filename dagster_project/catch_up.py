"""Catch-up: ingests every landed file version not yet handled, one run per file, as the sensors would."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.definitions import build_defs
from dagster_project.ingest.run import pending_files
from dagster_project.lakehouse.ops import quarantined_versions
from dagster_project.lakehouse.publish import held_versions, ingested_versions
from dagster_project.lakehouse.tables import CatalogCorrupt, TableUnreadable, ensure_raw_table, open_catalog
from dagster_project.landing.store import FileChanged, open_landing
from dagster_project.registry import load_registry
from dagster_project.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the run of one landed file did."""

    dataset: str
    key: str
    run_id: str
    success: bool
    materialized: bool
    rows: int = 0
    quarantined: int = 0
    set_apart: int = 0  # rows whose values do not fit their column's type (in ops.quarantine)
    dropped: int = 0
    gate: str = "-"
    audit_branch: str = ""
    failed_expectations: str = ""
    error: str = ""  # why no run was started (e.g. the dataset's table does not load)

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
    blocked: dict[str, str] = field(default_factory=dict)  # dataset -> the error


def pending_work(settings: Settings) -> Pending:
    """Every file version not on main, quarantined or held back; a broken table blocks its own dataset only.

    Raises:
        CatalogCorrupt: The catalog itself is unusable (nothing is ingested anywhere).
    """
    catalog = open_catalog(settings)
    landing = open_landing(settings)
    pending = Pending()
    for dataset in load_registry(settings.sources_file):
        try:
            table = ensure_raw_table(catalog, dataset)
            known = (
                set(ingested_versions(table))
                | held_versions(table)
                | quarantined_versions(catalog, dataset.name)
            )
        except (TableUnreadable, CatalogCorrupt) as exc:
            # CatalogCorrupt here is one table missing beside its old metadata, not the whole catalog.
            log.error("%s: skipped: %s", dataset.name, exc)
            pending.blocked[dataset.name] = str(exc)
            continue
        for file in pending_files(settings, dataset):
            try:
                with landing.fetch(file, settings.work_dir / "catch-up") as (_, checksum):
                    handled = (file.uri, checksum) in known
            except FileChanged:  # being written right now: a new version, due anyway
                handled = False
            except FileNotFoundError:  # gone since it was listed
                continue
            if not handled:
                pending.files.append((dataset.name, file.key))
    return pending


def unhandled_files(settings: Settings) -> list[tuple[str, str]]:
    """(dataset, landing key) of every file version not handled yet (datasets with broken tables left out)."""
    return pending_work(settings).files


def catch_up(settings: Settings, instance: dg.DagsterInstance) -> list[Outcome]:
    """Run the raw asset once per unhandled file, in registry order (customers before orders).

    A dataset whose table does not load gets one failed outcome with the error, and no run; the
    other datasets go on.
    """
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    pending = pending_work(settings)
    outcomes = [
        Outcome(dataset, f"{dataset}/", "", False, False, error=error)
        for dataset, error in pending.blocked.items()
    ]
    for dataset, key in pending.files:
        op = f"raw__{dataset}"
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(["raw", dataset])],
            run_config={
                "ops": {op: {"config": {"files": [key]}}},
                # Callers summarise; Dagster's own log of each run is in the UI.
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            tags={"foundation/dataset": dataset, "foundation/file": key[:200]},
        )
        materializations = result.asset_materializations_for_node(op)
        if not materializations:
            outcomes.append(Outcome(dataset, key, result.run_id, result.success, False))
            continue
        md = materializations[0].metadata

        def value(name: str, default: object = 0, md: dict = md) -> object:
            return md[name].value if name in md else default

        outcomes.append(
            Outcome(
                dataset,
                key,
                result.run_id,
                result.success,
                True,
                rows=int(value("rows_ingested")),
                quarantined=int(value("files_quarantined")),
                set_apart=int(value("rows_set_apart")),
                dropped=int(value("rows_dropped")),
                gate=str(value("quality_gate", "-")),
                audit_branch=str(value("audit_branch", "")),
                failed_expectations=str(value("failed_expectations", "")),
            )
        )
    return outcomes


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


def build_models(
    settings: Settings, instance: dg.DagsterInstance, full_refresh: bool = False
) -> tuple[bool, list[ModelRun]]:
    """One run of every staging and curated model, as the automation sensor would start it.

    dbt's own log goes to the run's logs (the UI), not to this process's output.
    """
    defs = build_defs(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if "dbt" in graph.get(k).kinds]
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
    runs = []
    evaluations = result.get_asset_check_evaluations()
    for m in result.asset_materializations_for_node("dbt_models"):
        md = {k: v.value for k, v in m.metadata.items()}
        checks = [e for e in evaluations if e.asset_key == m.asset_key]
        runs.append(
            ModelRun(
                table=".".join(m.asset_key.path),
                rows_written=int(md.get("rows_written", 0)),
                gate=str(md.get("quality_gate", "-")),
                total_rows=md.get("dagster/row_count"),
                held_back_because=str(md.get("held_back_because", "")),
                checks_passed=sum(e.passed for e in checks),
                failed_checks=tuple(
                    sorted(
                        e.check_name
                        for e in checks
                        if not e.passed and e.severity != dg.AssetCheckSeverity.WARN
                    )
                ),
                warned_checks=tuple(
                    sorted(
                        e.check_name
                        for e in checks
                        if not e.passed and e.severity == dg.AssetCheckSeverity.WARN
                    )
                ),
            )
        )
    return result.success, runs
