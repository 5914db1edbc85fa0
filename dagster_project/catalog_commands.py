"""The `foundation catalog check` and `foundation catalog recover` verbs: run them, print what they found."""

from __future__ import annotations

import argparse
import sys

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def catalog_command(settings: Settings, args: argparse.Namespace, out=None) -> int:  # noqa: ANN001
    """Run `catalog check` or `catalog recover`; 0 when every table loads, 1 when some do not."""
    out = out or sys.stdout
    from dagster_project.lakehouse.catalog_check import check_catalog
    from dagster_project.lakehouse.catalog_recovery import recover_catalog

    if args.catalog_command == "check":
        checks = check_catalog(settings)
        for check in checks:
            label = {"ok": "ok", "broken": "BROKEN", "unregistered": "MISSING"}[check.state]
            print(f"{label:<8}{check.table}: {check.detail}", file=out)
        bad = [c for c in checks if c.state != "ok"]
        print(
            f"{len(checks)} table(s): {len(checks) - len(bad)} ok, "
            f"{sum(c.state == 'broken' for c in checks)} broken, "
            f"{sum(c.state == 'unregistered' for c in checks)} not in the catalog",
            file=out,
        )
        if bad:
            print("Repair: foundation catalog recover [--table T] (see the README)", file=out)
        return 1 if bad else 0
    report = recover_catalog(settings, tables=args.table or (), metadata=args.metadata, dry_run=args.dry_run)
    would = "would be " if report.dry_run else ""
    if report.catalog_problem:
        problem = f"catalog {report.catalog}: {report.catalog_problem}"
        print(f"{problem}; {would}rebuilt from the warehouse", file=out)
    for source, target in report.moved_aside:
        print(f"moved aside (not deleted): {source} -> {target}", file=out)
    for t in report.tables:
        if t.ok:
            where = f"{t.metadata} ({t.snapshots} snapshot(s))"
            verb = t.action if t.action == "unchanged" else f"{would}{t.action}"
            print(f"  {t.table}: {verb}, {where}" + (f"; NOTE: {t.note}" if t.note else ""), file=out)
        else:
            print(f"  {t.table}: {t.action.upper()}: {t.note}", file=out)
        for passed in t.passed_over:
            print(f"    passed over (does not load): {passed}", file=out)
    changed = [t for t in report.tables if t.action in ("registered", "repointed")]
    print(
        f"{len(report.tables)} table(s): {len(changed)} {would}registered or repointed, "
        f"{sum(t.action == 'unchanged' for t in report.tables)} unchanged, "
        f"{sum(not t.ok for t in report.tables)} need a decision",
        file=out,
    )
    return 0 if report.ok else 1


def _catalog_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="catalog_command", required=True)
    verbs.add_parser("check", help="every table's current metadata loads; tables missing from it")
    recover = verbs.add_parser(
        "recover", help="register the warehouse's tables from their newest readable metadata file"
    )
    recover.add_argument("--table", action="append", metavar="TABLE", help="only this table (repeatable)")
    recover.add_argument(
        "--metadata", metavar="FILE", help="with one --table: point it at this metadata file"
    )
    recover.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")


CATALOG = Subcommand(
    "catalog",
    "check the Iceberg catalog, or rebuild it from the warehouse",
    "dagster_project.catalog_commands:catalog_command",
    _catalog_arguments,
)
