"""The `sources` verbs of the `foundation` command (the work is in `add.py`, imported when used)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dagster_project.registry import FORMATS
from dagster_project.settings import DBT_PROJECT_DIR, Settings
from dagster_project.subcommand import Subcommand


def add_arguments(sources: argparse.ArgumentParser) -> None:
    """`foundation sources add ...` on the `sources` verb's parser."""
    verbs = sources.add_subparsers(dest="sources_command", required=True)
    add = verbs.add_parser(
        "add",
        help="infer the registry entry, starter suite and staging model of landed files",
        description="Infer a source from the files landed under PREFIX and write its registry entry, "
        "starter suite and staging model; idempotent. README: 'Add a source in one command'.",
    )
    add.add_argument("name", help="dataset name, e.g. measurements (table raw.measurements)")
    add.add_argument(
        "--prefix",
        help="landing prefix of its files, e.g. measurements/ (default with --from-registry: its own)",
    )
    add.add_argument("--format", choices=FORMATS, help="only these files (default: from the files)")
    add.add_argument("--dry-run", action="store_true", help="print the diff of every file; write nothing")
    add.add_argument(
        "--force", action="store_true", help="replace a different declaration, suite or staging model"
    )
    add.add_argument(
        "--from-registry",
        action="store_true",
        help="keep the (reviewed) registry entry as it is; generate the suite and staging model from it",
    )
    add.add_argument("--dbt-project", type=Path, default=DBT_PROJECT_DIR, help=argparse.SUPPRESS)


def sources_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `foundation sources add`; prints the diff (dry run) or the files written, and the notes."""
    from dagster_project.onboard.add import apply, plan_source, shown  # duckdb and pyarrow: when used

    plan = plan_source(
        settings,
        args.name,
        args.prefix,
        fmt=args.format,
        force=args.force,
        from_registry=args.from_registry,
        dbt_project_dir=args.dbt_project,
    )
    inferred = plan.inferred
    print(
        f"{plan.name}: {inferred.rows} row(s) in {len(inferred.files)} {inferred.format} file(s) under "
        f"{inferred.prefix}; primary key {', '.join(inferred.primary_key)}"
    )
    for note in inferred.notes:
        print(f"  note: {note}")
    if not plan.changes:
        print("no changes: the source is declared as these files say")
        return 0
    if args.dry_run:
        for change in plan.changes:
            print(change.diff(), end="")
        print(f"dry run: {len(plan.changes)} file(s) would change; nothing written")
        return 0
    apply(plan)
    for change in plan.changes:
        print(f"{'wrote' if change.old is None else 'updated'} {shown(change.path)}")
    if args.dbt_project == DBT_PROJECT_DIR:
        # Imported here: it loads pyiceberg, which `foundation search` must not wait for at start-up.
        from dagster_project.onboard.dbt_sources import refresh_manifest

        refresh_manifest(settings.sources_file)  # a model that does not parse is said now, not at ingest
    print(
        f"next: review every 'TODO review' in these files, then `foundation ingest {plan.name}` "
        "(under `make dev`, reload the code location to see its assets)"
    )
    return 0


SOURCES = Subcommand(
    "sources",
    "declare a source from files that have landed",
    "dagster_project.onboard.commands:sources_command",
    add_arguments,
)
