"""`foundation` verbs of governance: governed queries, governed search, table history."""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import asdict

from dagster_project.errors import FoundationError
from dagster_project.landing.names import label
from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand, positive_int


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
    """`foundation query`: rows, or one line saying why not (denied: exit 3; refused or failed: exit 2).

    A denial (`QueryDenied`) or any other `FoundationError` reaches `cli.main`, which prints the line.
    """
    from dagster_project.governance.query import run_query

    result = run_query(settings, args.persona, args.sql, as_of=args.as_of, max_rows=args.max_rows)
    print_rows(result.rows, args.format)
    if args.format == "table":
        read = ", ".join(f"{t}@{s}" for t, s in sorted(result.snapshot_ids.items())) or "no table"
        more = f" (first {args.max_rows}; more rows exist)" if result.truncated else ""
        print(f"\n{result.rows.num_rows} row(s){more}; read {read}")
    elif result.truncated:
        print(f"only the first {args.max_rows} rows; raise --max-rows", file=sys.stderr)
    return 0


def history_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation history TABLE`: its snapshots, newest first, with run ids and source files."""
    from pyiceberg.exceptions import NoSuchTableError

    from dagster_project.governance.history import format_history, table_history
    from dagster_project.lakehouse.tables import open_catalog

    if "." not in args.table:
        raise FoundationError(f"name the table as namespace.table, e.g. raw.{args.table}")
    try:
        table = open_catalog(settings).load_table(args.table)
    except NoSuchTableError:
        raise FoundationError(f"no table {args.table}; `foundation status` lists them") from None
    entries = table_history(table, limit=args.limit)
    if args.json:
        print(json.dumps([asdict(e) for e in entries], indent=2))
    else:
        print(format_history(args.table, entries))
    return 0


def search_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation search --as PERSONA QUESTION`: the persona's nearest chunks, with citations.

    A denial (`QueryDenied`, exit 3) or a `SearchError` (exit 2) reaches `cli.main`, which prints the line.
    """
    # Only what a search needs is imported: a cold `foundation search` is one process per question.
    from dagster_project.documents.index import parse_where
    from dagster_project.governance.search import search_as

    hits = search_as(settings, args.persona, args.question, k=args.k, where=parse_where(args.where or []))
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No matching chunks (check the --where filters).")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. [{hit.score:.3f}] {hit.citation}")
        print("   " + " ".join(hit.text.split())[:300])
    return 0


def _hit_json(hit) -> dict:  # noqa: ANN001 - a SearchHit
    """A hit as JSON, without the fields the persona may not see (`withheld` names them)."""
    out = {k: v for k, v in asdict(hit).items() if k not in hit.withheld and k != "withheld"}
    out["citation"] = {k: v for k, v in out["citation"].items() if k not in hit.withheld}
    if hit.withheld:
        out["withheld"] = list(hit.withheld)
    return out


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="free text, e.g. 'how do I return an item?'")
    parser.add_argument("-k", type=int, default=5, help="how many chunks (default 5)")
    parser.add_argument(
        "--where", action="append", metavar="KEY=VALUE", help="filter: sidecar attribute, path or media_type"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--as", dest="persona", required=True, help="persona from the personas file (its search policy)"
    )


def _query_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help='one SELECT, e.g. "select count(*) from curated.orders"')
    parser.add_argument("--as", dest="persona", required=True, help="persona from the personas file")
    parser.add_argument("--as-of", help="snapshot id, or ISO timestamp (each table as it was then)")
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="how rows are printed: an aligned table, CSV, or JSON (default: table)",
    )
    parser.add_argument(
        "--max-rows", type=positive_int, default=1000, help="print at most N rows (default 1000)"
    )


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help="e.g. raw.orders")
    parser.add_argument("--limit", type=positive_int, help="newest N snapshots of main")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


SEARCH = Subcommand(
    "search",
    "retrieve document chunks with citations",
    "dagster_project.governance.commands:search_command",
    _search_arguments,
)
QUERY = Subcommand(
    "query",
    "run one SELECT as a persona (policies, masks, audit log)",
    "dagster_project.governance.commands:query_command",
    _query_arguments,
)
HISTORY = Subcommand(
    "history",
    "a table's snapshots with run ids and source files",
    "dagster_project.governance.commands:history_command",
    _history_arguments,
)
