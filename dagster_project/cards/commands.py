"""`foundation cards`: write the data cards again from the current tables."""

from __future__ import annotations

import argparse

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def cards_command(settings: Settings, args: argparse.Namespace) -> int:
    """Write the cards of every table (or those named); a `CardSourceError` reaches `cli.main`."""
    from dagster_project.cards.writer import write_cards

    written = write_cards(settings, args.table or None)
    if not written:
        print("No tables to describe yet. Run `make demo`, or drop files into the landing zone.")
    for files in written:
        print(f"{files.table}: {files.rows:,} rows, snapshot {files.snapshot_id} → {files.html}")
    return 0


def _cards_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", action="append", metavar="TABLE", help="only this table, e.g. curated.orders (repeatable)"
    )


CARDS = Subcommand(
    "cards",
    "regenerate the data cards from the current tables",
    "dagster_project.cards.commands:cards_command",
    _cards_arguments,
)
