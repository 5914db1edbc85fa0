"""`foundation maintain`: compact, expire snapshots and remove orphan files now, as the schedule does."""

from __future__ import annotations

import argparse
import sys

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def maintain_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run table maintenance now, as the `table_maintenance` schedule does (or only report: --dry-run).

    Returns:
        1 when an operation failed on a table (the others went on), else 0. An unknown table
        (`UnknownTable`) reaches `cli.main`, which prints the line.
    """
    from dagster_project.defs.maintenance.assets import dbt_manifest
    from dagster_project.lakehouse.catalog_maintenance import OPERATIONS, failed, run_maintenance

    operations = OPERATIONS if args.operation == "all" else (args.operation,)
    broken = False
    for operation in operations:
        reports = run_maintenance(
            settings,
            operation,
            tables=args.table or (),
            dry_run=args.dry_run,
            manifest=dbt_manifest() if operation == "compact" else None,
            run_id="cli",
        )
        verb = "would change" if args.dry_run else "changed"
        touched = [r for r in reports if r.files_removed or r.files_added or r.snapshots_expired]
        print(f"{operation}: {len(reports)} table(s), {len(touched)} {verb}")
        for r in touched:
            files_after = (
                r.before.data_files - r.files_removed + r.files_added if r.dry_run else r.after.data_files
            )
            print(
                f"  {r.table}: data files {r.before.data_files} → {files_after}, "
                f"snapshots expired {r.snapshots_expired}, "
                f"files removed {r.files_removed} ({r.bytes_removed:,} bytes)"
                + (f"; {'; '.join(r.notes)}" if r.notes else "")
            )
        for r in failed(reports):
            print(f"  {r.table}: {'; '.join(r.notes)}", file=sys.stderr)
            broken = True
    return 1 if broken else 0


def _maintain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "operation",
        nargs="?",
        default="all",
        choices=("all", "compact", "expire_snapshots", "remove_orphan_files"),
        help="one operation, or all three in order (default)",
    )
    parser.add_argument("--table", action="append", metavar="TABLE", help="only this table (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")


MAINTAIN = Subcommand(
    "maintain",
    "compact, expire snapshots, remove orphan files now (what the schedule runs)",
    "dagster_project.maintain_commands:maintain_command",
    _maintain_arguments,
)
