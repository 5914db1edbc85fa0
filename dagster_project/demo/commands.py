"""`foundation demo` and `foundation generate`: the sample data, and the headless demo that ingests it."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from dagster_project.landing.names import label
from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand, positive


def sync_sample_data(settings: Settings, seed: int, scale: float, out: str | None = None) -> list[str]:
    """Write the sample landing data, only files that changed (unchanged files keep their mtime).

    Args:
        settings: The landing zone to write to (a local folder or S3).
        seed: Generator seed; the same seed gives the same bytes.
        scale: Row-count multiplier.
        out: Another landing zone to write to: a local folder or an s3:// URI.

    Returns:
        The landing keys written.
    """
    from dagster_project.demo.sample_data.generator import generate
    from dagster_project.landing.zone import open_landing

    if out:
        uri = out if "://" in out else Path(out).resolve().as_uri()
        settings = Settings(**{**settings.__dict__, "landing_uri": uri.rstrip("/")})
    landing = open_landing(settings)
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        for generated in generate(Path(tmp), seed=seed, scale=scale):
            key = generated.path.relative_to(tmp).as_posix()
            if landing.put_if_changed(key, generated.path):
                changed.append(key)
    return changed


def run_demo(settings: Settings, seed: int = 42) -> int:
    """Generate sample data, then ingest the new files in one run per dataset per batch, as the sensors would.

    Runs go to the Dagster instance in DAGSTER_HOME, so `make dev` shows them afterwards.
    """

    from dagster_project.catch_up import catch_up, run_models
    from dagster_project.defs.deployment import open_instance
    from dagster_project.demo.tour import show_governance
    from dagster_project.ingest_landed import outcome_line, print_models, summary_line
    from dagster_project.onboard.dbt_sources import refresh_manifest
    from dagster_project.status import print_status, table_status

    changed = sync_sample_data(settings, seed=seed, scale=1.0)
    print(f"sample data: {len(changed)} new or changed file(s) in {settings.landing_uri}")
    if refresh_manifest(settings.sources_file):
        print("dbt project parsed again (the registry or a model changed since the last parse)")
    instance = open_instance(settings)
    outcomes = catch_up(settings, instance)
    runs = len({o.run_id for o in outcomes if o.run_id})
    print(f"{len(outcomes)} file version(s) to ingest in {runs} run(s), one per dataset per batch\n")
    for o in outcomes:
        print(outcome_line(settings, o))
    print(summary_line(outcomes))
    print("\nstaging and curated models (dbt, one run; only what changed is written):")
    build = run_models(settings, instance)
    print_models(settings, build, sys.stdout)
    built = build.success
    from dagster_project.documents_catch_up import run_documents

    print()
    documents_ok = run_documents(settings, instance)
    print()
    print_status(table_status(settings))
    held = [o for o in outcomes if o.held_back]
    for o in held:
        print(f"\n{label(o.key)} was held back on {o.audit_branch}; failed expectations:")
        print("  " + o.failed_expectations.replace("\n", "\n  "))
    if held:
        print("Inspect, release or discard: foundation held | release TABLE BRANCH | discard TABLE BRANCH")
    show_governance(settings)
    served = "served by make dev or foundation docs serve"
    print(f"\nData Docs: {settings.docs_base_url}/data_docs/<table>/latest.html ({served})")
    print(
        'Search the documents: foundation search --as support_agent "how do I return an item?" -k 5 '
        "[--where key=value]"
    )
    return 1 if any(o.failed for o in outcomes) or not built or not documents_ok else 0


def demo_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation demo`: see `run_demo`."""
    return run_demo(settings, seed=args.seed)


def generate_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation generate`: write the sample landing data, say how many files changed."""
    changed = sync_sample_data(settings, seed=args.seed, scale=args.scale, out=args.out)
    print(f"{len(changed)} new or changed file(s) in {args.out or settings.landing_uri}")
    return 0


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=int, default=42, help="sample data generator seed; the same seed writes the same bytes"
    )


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        help="write to this landing zone instead: a folder or s3://bucket/prefix",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="sample data generator seed; the same seed writes the same bytes"
    )
    parser.add_argument("--scale", type=positive, default=1.0, help="multiply row counts (> 0)")


DEMO = Subcommand(
    "demo",
    "generate sample data and run the pipeline headless",
    "dagster_project.demo.commands:demo_command",
    _demo_arguments,
)
GENERATE = Subcommand(
    "generate",
    "write the sample landing data",
    "dagster_project.demo.commands:generate_command",
    _generate_arguments,
)
