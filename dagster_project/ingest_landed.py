"""`foundation ingest`: what has landed goes into raw as the sensors would take it, then the models it feeds.

No sample data is written. The landed file versions not handled yet go in runs of their raw asset,
one per dataset per batch of up to `FOUNDATION_SENSOR_MAX_FILES_PER_RUN` files (the code and the cut of
a sensor's run), with one line per file, then one dbt run builds the staging and curated models
downstream of the raw tables that got new rows and of every model behind its inputs (a build that
failed, rows added by `foundation retry` or `foundation rebuild`: `transform/behind.py`). The exit
code tells content from environment:

- 0: every file was handled; some may be quarantined, have rows set apart, be duplicates or be
  held back by the quality gate (content problems: `foundation status` lists them).
- 1: the files were handled but the dbt run failed (the cause is printed).
- 2: a mistake in the command (an unknown dataset).
- 3: a file's run (its batch's) failed for another reason than its content (disk, permission, memory, catalog,
  object store): nothing was quarantined for it and it stays due; run the command again once the
  cause is gone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import dagster as dg

from dagster_project.catch_up import ModelBuild, Outcome, catch_up, run_models, where_to_look
from dagster_project.defs.deployment import open_instance
from dagster_project.errors import FoundationError
from dagster_project.landing.names import label
from dagster_project.onboard.dbt_sources import refresh_manifest
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from dagster_project.transform.build import dbt_target_dir

EXIT_OK, EXIT_MODELS_FAILED, EXIT_ENVIRONMENT = 0, 1, 3
DOCUMENTS = "documents"


class UnknownDataset(FoundationError):
    """A dataset named on the command line is not in the registry."""


def outcome_line(settings: Settings, o: Outcome) -> str:
    """One line per landed file: its key, what happened to it, its rows; a failure's cause and log."""
    if o.materialized and (o.success or o.held_back):
        if o.held_back:
            what = f"held back by the quality gate on {o.audit_branch}, its rows not on main"
        elif o.quarantined:
            what = f"quarantined, {'; '.join(o.reasons)}" if o.reasons else "quarantined (foundation status)"
        elif o.duplicates:
            what = "duplicate, skipped (foundation status says of which file)"
        elif o.rows or o.set_apart:
            what = f"ingested, +{o.rows} rows"
        else:
            what = "nothing new (already handled)"
        extra = (f", {o.set_apart} rows set apart" if o.set_apart else "") + (
            f", {o.dropped} rows dropped" if o.dropped else ""
        )
        return f"  {label(o.key)}: {what}{extra}"
    if not o.run_id:  # no run was started: the dataset's table does not load
        return f"  {label(o.key)}: FAILED, no run started: {o.error}"
    return f"  {label(o.key)}: FAILED: {o.error}\n      see {where_to_look(settings, o.run_id)}"


def summary_line(outcomes: Sequence[Outcome]) -> str:
    """Files ingested and their rows, rows set apart, files quarantined, duplicates, skipped, failed."""
    done = [o for o in outcomes if o.materialized and (o.success or o.held_back)]
    ingested = [o for o in done if o.rows and not o.held_back]
    skipped = [o for o in done if not (o.rows or o.set_apart or o.quarantined or o.duplicates or o.held_back)]
    return (
        f"{len(ingested)} file(s) ingested, {sum(o.rows for o in ingested):,} rows; "
        f"{sum(o.set_apart for o in done)} rows set apart, {sum(o.dropped for o in done)} rows dropped; "
        f"{sum(o.quarantined for o in done)} quarantined, {sum(o.duplicates for o in done)} duplicate(s), "
        f"{sum(o.held_back for o in done)} held back, {len(skipped)} skipped, "
        f"{sum(o.failed for o in outcomes)} failed"
    )


def print_models(settings: Settings, build: ModelBuild, out: TextIO) -> None:
    """Why models were built, each model the dbt run built, the models left waiting, and each
    failing model with the cause of its error and where the whole log is."""
    for model, why in sorted(build.behind.items()):
        print(f"  {model}: behind: {why}", file=out)
    for model, why in sorted(build.full_refresh.items()):
        print(f"  {model}: full refresh: {why}", file=out)
    for m in build.models:
        total = f", {m.total_rows:,} rows in the table" if m.total_rows is not None else ""
        why = f" ({m.held_back_because})" if m.held_back_because else ""
        checks = f", {m.checks_passed} check(s) passed"
        checks += f", failed: {', '.join(m.failed_checks)}" if m.failed_checks else ""
        checks += f", warned: {', '.join(m.warned_checks)}" if m.warned_checks else ""
        checks += f", not run: {'; '.join(m.not_run_checks)}" if m.not_run_checks else ""
        print(f"  {m.table}: {m.rows_written:,} row(s) written{total}, gate {m.gate}{checks}{why}", file=out)
    for model, missing in sorted(build.waiting.items()):
        print(f"  {model}: not built, it reads {missing}, which has no data yet", file=out)
    told = {m.table for m in build.models} | set(build.waiting) | set(build.failures)
    for model in sorted(set(build.selected) - told):  # dbt's own skip: it says nothing of it here
        print(f"  {model}: not built: dbt skipped it, as a model or test it reads failed", file=out)
    if not build.success:
        if build.failures:
            print(f"  the dbt run FAILED, {len(build.failures)} model(s):", file=out)
            for model, cause in sorted(build.failures.items()):
                print(f"    {model}: {cause}", file=out)
        else:
            print(f"  the dbt run FAILED: {build.error}", file=out)
        print(
            f"      whole dbt log: {dbt_target_dir(settings) / 'run_results.json'} (each model's message) "
            f"and {where_to_look(settings, build.run_id)}",
            file=out,
        )


def build_models_behind(
    settings: Settings, instance: dg.DagsterInstance, changed: Sequence[dg.AssetKey], out: TextIO
) -> bool:
    """One dbt run of the models downstream of `changed` and of every model behind its inputs; printed.

    Returns:
        Whether the run succeeded (True when there was nothing to build).
    """
    build = run_models(settings, instance, changed=changed, behind=True)
    if not build.selected and not build.waiting:
        print("models: nothing changed in raw and no model is behind, nothing to build", file=out)
        return True
    roots = ", ".join(".".join(k.path) for k in changed)
    print(
        f"models {f'downstream of {roots}' if roots else ''}{' and ' if roots and build.behind else ''}"
        f"{'behind their inputs' if build.behind else ''} (dbt, one run):",
        file=out,
    )
    print_models(settings, build, out)
    return build.success


def ingest_command(
    settings: Settings,
    datasets: Sequence[str] = (),
    *,
    raw_only: bool = False,
    retry_quarantined: bool = False,
    out: TextIO | None = None,
) -> int:
    """Ingest what has landed (all datasets, or those named), then build the models downstream of it.

    Args:
        settings: The platform's settings.
        datasets: Registry dataset names (and `documents`); empty: every dataset.
        raw_only: Stop after the raw tables.
        retry_quarantined: Try again file versions quarantined before (after a registry fix).
        out: Where progress goes (stdout by default).

    Returns:
        The exit code (see the module's docstring).

    Raises:
        UnknownDataset: A name is not in the registry.
    """
    out = out or sys.stdout
    known = [d.name for d in load_registry(settings.sources_file)]
    unknown = sorted(set(datasets) - set(known) - {DOCUMENTS})
    if unknown:
        raise UnknownDataset(
            f"unknown dataset(s) {', '.join(unknown)}; the registry ({settings.sources_file}) has "
            f"{', '.join(known)}, and there is {DOCUMENTS}"
        )
    tables = [d for d in datasets if d != DOCUMENTS] or (None if not datasets else [])
    if not raw_only and refresh_manifest(settings.sources_file):
        print("dbt project parsed again (the registry or a model changed since the last parse)", file=out)
    instance = open_instance(settings)
    print(
        f"landing zone {settings.landing_uri}: one run per dataset per {settings.sensor_max_files_per_run} "
        "new file versions (registry order)",
        file=out,
    )
    outcomes: list[Outcome] = []
    if tables != []:
        outcomes = catch_up(
            settings,
            instance,
            datasets=tables,
            retry_quarantined=retry_quarantined,
            on_outcome=lambda o: print(outcome_line(settings, o), file=out, flush=True),
            on_progress=lambda dataset, line: print(f"  {dataset}: {line}", file=out, flush=True),
        )
    if tables != []:  # `foundation ingest documents` names no table: nothing to say of them
        if not outcomes:
            print("  nothing new has landed", file=out)
        print(summary_line(outcomes), file=out)
    documents_ok = True
    if not datasets or DOCUMENTS in datasets:
        documents_ok = _documents(settings, instance, raw_only=raw_only, out=out)
    code = EXIT_ENVIRONMENT if any(o.failed for o in outcomes) or not documents_ok else EXIT_OK
    if raw_only:
        return code
    changed = sorted({dg.AssetKey(["raw", o.dataset]) for o in outcomes if o.rows or o.set_apart})
    built = build_models_behind(settings, instance, changed, out)
    return code if code != EXIT_OK or built else EXIT_MODELS_FAILED


def _documents(settings: Settings, instance: dg.DagsterInstance, *, raw_only: bool, out: TextIO) -> bool:
    """The knowledge base's runs, when documents have landed (no table is made for a folder never used)."""
    from dagster_project.documents.config import load_documents_config
    from dagster_project.documents.ingest import landed_documents
    from dagster_project.documents_catch_up import run_documents

    documents, _ = landed_documents(settings, load_documents_config(settings.documents_file))
    if not documents:
        return True
    return run_documents(settings, instance, out=out, raw_only=raw_only)
