"""`foundation` verbs of governance: governed queries, table history, data cards."""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import asdict

from dagster_project.landing.names import label
from dagster_project.settings import Settings


def cards_command(settings: Settings, args: argparse.Namespace) -> int:
    from dagster_project.cards.models import CardSourceError
    from dagster_project.cards.writer import write_cards

    try:
        written = write_cards(settings, args.table or None)
    except CardSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not written:
        print("No tables to describe yet. Run `make demo`, or drop files into the landing zone.")
    for files in written:
        print(f"{files.table}: {files.rows:,} rows, snapshot {files.snapshot_id} → {files.html}")
    return 0


def print_rows(rows, fmt: str, indent: str = "") -> None:  # noqa: ANN001 - a pyarrow Table
    """Print query rows as an aligned table, CSV or JSON lines."""
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = io.BytesIO()
        pacsv.write_csv(rows, sink)
        sys.stdout.write(sink.getvalue().decode("utf-8"))
        return
    records = rows.to_pylist()
    if fmt == "json":
        print(json.dumps(records, default=str, indent=2))
        return
    names = rows.column_names
    # Values are data, not terminal commands: control characters (escape sequences, line breaks)
    # are shown escaped, as `label` shows file names, so a value cannot clear or retitle the screen.
    cells = [[("" if r[n] is None else label(str(r[n]))) for n in names] for r in records]
    widths = [max([len(n), *(len(c[i]) for c in cells)]) for i, n in enumerate(names)]
    for line in [names, ["-" * w for w in widths], *cells]:
        print((indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))).rstrip())


def query_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation query`: rows, or one line saying why not (denied: exit 3; refused or failed: exit 2)."""
    from dagster_project.governance.query import QueryDenied, run_query

    try:
        result = run_query(settings, args.persona, args.sql, as_of=args.as_of, max_rows=args.max_rows)
    except QueryDenied as exc:
        print(f"denied: {exc}", file=sys.stderr)
        return 3
    # Any other FoundationError (refused, past a limit, failed) reaches `main`: `error: ...`, exit 2.
    print_rows(result.rows, args.format)
    if args.format == "table":
        read = ", ".join(f"{t}@{s}" for t, s in sorted(result.snapshot_ids.items())) or "no table"
        more = f" (first {args.max_rows}; more rows exist)" if result.truncated else ""
        print(f"\n{result.rows.num_rows} row(s){more}; read {read}")
    elif result.truncated:
        print(f"only the first {args.max_rows} rows; raise --max-rows", file=sys.stderr)
    return 0


def history_command(settings: Settings, args: argparse.Namespace) -> int:
    from pyiceberg.exceptions import NoSuchTableError

    from dagster_project.governance.history import format_history, table_history
    from dagster_project.lakehouse.tables import open_catalog

    if "." not in args.table:
        print(f"error: name the table as namespace.table, e.g. raw.{args.table}", file=sys.stderr)
        return 2
    try:
        table = open_catalog(settings).load_table(args.table)
    except NoSuchTableError:
        print(f"error: no table {args.table}; `foundation status` lists them", file=sys.stderr)
        return 2
    entries = table_history(table, limit=args.limit)
    if args.json:
        print(json.dumps([asdict(e) for e in entries], indent=2))
    else:
        print(format_history(args.table, entries))
    return 0


def maintain_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run table maintenance now, as the `table_maintenance` schedule does (or only report: --dry-run)."""
    from dagster_project.defs.maintenance.assets import dbt_manifest
    from dagster_project.lakehouse.catalog_maintenance import (
        OPERATIONS,
        UnknownTable,
        failed,
        run_maintenance,
    )

    operations = OPERATIONS if args.operation == "all" else (args.operation,)
    broken = False
    for operation in operations:
        try:
            reports = run_maintenance(
                settings,
                operation,
                tables=args.table or (),
                dry_run=args.dry_run,
                manifest=dbt_manifest() if operation == "compact" else None,
                run_id="cli",
            )
        except UnknownTable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
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
