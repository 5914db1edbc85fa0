"""`foundation ingest`'s declaration: its arguments here, its work in `ingest_landed.py`.

Apart from `ingest_landed.py` because that module imports Dagster and dbt, and every verb's
arguments are built for `foundation --help` and for a cold `foundation status`.
"""

from __future__ import annotations

import argparse

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def ingest_main(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation ingest [DATASET ...]`: the exit codes are `ingest_landed.ingest_command`'s."""
    from dagster_project.ingest_landed import ingest_command

    return ingest_command(
        settings, args.datasets, raw_only=args.raw_only, retry_quarantined=args.retry_quarantined
    )


def _ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "datasets",
        nargs="*",
        metavar="DATASET",
        help="registry datasets, or `documents` for the document layer (default: all)",
    )
    parser.add_argument("--raw-only", action="store_true", help="stop after the raw tables (no dbt)")
    parser.add_argument(
        "--retry-quarantined", action="store_true", help="try again files quarantined before (after a fix)"
    )


INGEST = Subcommand(
    "ingest",
    "ingest what has landed (no sample data), then build the models it feeds",
    "dagster_project.ingest_commands:ingest_main",
    _ingest_arguments,
)
