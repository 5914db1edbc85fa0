"""`foundation status`: every Iceberg table, the quarantine still standing, held-back batches, failed runs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from urllib.parse import unquote

from dagster_project.landing.names import label
from dagster_project.run_failures import failed_runs, where_to_look
from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def table_status(settings: Settings) -> dict:
    """Every Iceberg table with rows, snapshots and current snapshot; the quarantine log (rows set apart
    per file too); tables that fail; the Dagster runs that failed lately (`run_failures.py`).

    A table whose metadata does not load is listed under `broken` with its error; the others are
    reported as usual. A corrupt or missing catalog raises `CatalogCorrupt` (nothing is created).
    """
    from dagster_project.lakehouse.ops_tables.quarantine import QUARANTINE_TABLE, read_quarantine
    from dagster_project.lakehouse.resolved import QuarantineView
    from dagster_project.lakehouse.tables import TableUnreadable, load_table, open_catalog
    from dagster_project.lakehouse.wap import held_batches

    catalog = open_catalog(settings)
    tables, held, broken = [], [], []
    for namespace in sorted(catalog.list_namespaces()):
        for identifier in sorted(catalog.list_tables(namespace)):
            try:
                table = load_table(catalog, identifier)
            except TableUnreadable as exc:
                broken.append({"table": ".".join(identifier), "error": str(exc)})
                continue
            held += [asdict(b) for b in held_batches(table)]
            snapshot = table.current_snapshot()
            tables.append(
                {
                    "table": ".".join(identifier),
                    "rows": int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0,
                    "snapshots": len(table.metadata.snapshots),
                    "current_snapshot_id": snapshot.snapshot_id if snapshot else None,
                    "location": table.location(),
                }
            )
    quarantine, dropped_rows, set_apart, duplicates, resolved = [], {}, {}, [], []
    set_apart_files: dict[str, dict[str, int]] = {}  # dataset -> file URI -> rows
    if any(t["table"] == QUARANTINE_TABLE for t in tables):
        view = QuarantineView(catalog, {t["table"] for t in tables})
        for row in read_quarantine(catalog).to_pylist():
            if row.get("scope") == "duplicate":  # skipped, not quarantined: its bytes were taken before
                duplicates.append(
                    {"dataset": row["dataset"], "file": row["source_file"], "message": row["message"]}
                )
                continue
            how = view.resolution(row)
            if how:  # answered by a later commit on main: kept in ops.quarantine, not shown as to fix
                scope = "row" if row.get("scope") == "row" or row.get("row_data") is not None else "file"
                resolved.append(
                    {"dataset": row["dataset"], "file": row["source_file"], "scope": scope, "how": how}
                )
                continue
            if row.get("scope") == "row" or row.get("row_data") is not None:
                if row["reason"].startswith("expectation:"):  # dropped by a quality check
                    key = f"{row['dataset']}: {row['reason'].removeprefix('expectation:')}"
                    dropped_rows[key] = dropped_rows.get(key, 0) + 1
                else:  # a value that does not fit its column's type
                    set_apart[row["dataset"]] = set_apart.get(row["dataset"], 0) + 1
                    files = set_apart_files.setdefault(row["dataset"], {})
                    files[row["source_file"]] = files.get(row["source_file"], 0) + 1
                continue
            quarantine.append(
                {
                    "quarantined_at": row["quarantined_at"].isoformat(),
                    "dataset": row["dataset"],
                    "file": row["source_file"],
                    "reason": row["reason"],
                    "message": row["message"],
                    "quarantine_file": row["quarantine_file"],
                }
            )
    return {
        "catalog": settings.catalog_name,
        "tables": tables,
        "quarantine": quarantine,
        "dropped_rows": dropped_rows,
        "set_apart_rows": set_apart,
        "set_apart_files": [
            {"dataset": dataset, "file": _key(uri, settings.landing_uri), "rows": rows}
            for dataset, files in sorted(set_apart_files.items())
            for uri, rows in sorted(files.items())
        ],
        "duplicates": duplicates,
        "resolved": resolved,
        "held_back": held,
        "broken": broken,
        "failed_runs": _taken_since(settings, catalog, failed_runs(settings.dagster_home_dir)),
    }


def _taken_since(settings: Settings, catalog, runs: dict) -> dict:  # noqa: ANN001 - a pyiceberg Catalog
    """Each failed raw run with what became of its files since it started (`handled_since`):
    `taken_since` (on main, quarantined or a duplicate: by this run, a later one or a release) and
    `held` (on an audit branch, waiting for `foundation release` or `discard`) and `discarded`; the
    others are due."""
    from dagster_project.lakehouse.ops_tables.handled_files import DISCARDED, HELD, handled_since
    from dagster_project.registry import load_registry

    shown = [r for r in runs["runs"] if r.get("files") and r.get("started_at") is not None]
    registry = {d.name: d for d in load_registry(settings.sources_file)} if shown else {}
    since: dict[str, dict[str, tuple[str, float]]] = {}  # dataset -> landing key -> (outcome, when)
    for name in {r["dataset"] for r in shown if r["dataset"] in registry}:
        table_name = registry[name].table
        table = catalog.load_table(table_name) if catalog.table_exists(table_name) else None
        since[name] = {
            _key(uri, settings.landing_uri): how for uri, how in handled_since(catalog, name, table).items()
        }
    for r in shown:
        known = since.get(r["dataset"], {})
        after = {f: how[0] for f in r["files"] if (how := known.get(label(f))) and how[1] >= r["started_at"]}
        r["taken_since"] = [f for f, outcome in after.items() if outcome not in (HELD, DISCARDED)]
        r["held"] = [f for f, outcome in after.items() if outcome == HELD]
        r["discarded"] = [f for f, outcome in after.items() if outcome == DISCARDED]
    return runs


def _key(uri: str, root: str) -> str:
    """The landing key of a file URI (`orders/a.csv`), else the URI (a moved landing zone)."""
    root = root.rstrip("/") + "/"
    if not uri.startswith(root):
        return label(uri)
    key = uri[len(root) :]
    return label(unquote(key) if root.startswith("file:") else key)  # file URIs are percent-encoded


_LISTED = 10  # files per dataset, failed runs: the rest is counted (and in --json)


def _rows_query(dataset: str) -> str:
    """The command that shows a dataset's rows set apart (the auditor reads ops.*, not row_data)."""
    return (
        f'foundation query --as auditor "select source_file, line, column_name, message from ops.quarantine '
        f"where dataset = '{dataset}' and scope = 'row' and reason = 'type_conflict'\""
    )


def _print_failed_runs(runs: dict, out) -> None:
    if runs["storage"] == "configured":
        print(
            "\nfailed runs: the Dagster instance keeps its runs in a database of its own: see Runs in the UI",
            file=out,
        )
    if runs["storage"] == "unreadable":
        print(f"\nfailed runs: the Dagster run storage could not be read ({runs['error']})", file=out)
    if not runs["count"]:
        return
    shown = runs["runs"]
    more = f" (the newest {len(shown)})" if runs["count"] > len(shown) else ""
    print(f"\nfailed runs: {runs['count']}{more}", file=out)
    for r in shown:
        what = f"[{r['dataset']}] {r['file'] or ''}".strip() if r["dataset"] else ""
        print(f"  {r['failed_at']} run {r['run_id']} {what}".rstrip(), file=out)
        error = r["error"]  # whole in --json; one screen line here
        print(f"    {error if len(error) <= 200 else error[:199] + '…'}", file=out)
        counts = {k: len(r.get(k, [])) for k in ("taken_since", "held", "discarded")}
        if any(counts.values()):
            due = len(r.get("files", [])) - sum(counts.values())
            parts = [
                f"{n} {what}"
                for n, what in zip(
                    (counts["taken_since"], counts["held"], counts["discarded"], due),
                    ("on main, quarantined or duplicates", "held (`foundation held`)", "discarded",
                     "due (`foundation ingest`)"),
                    strict=True,
                )
                if n
            ]  # fmt: skip
            print(f"    of its {len(r['files'])} file(s) now: {'; '.join(parts)}", file=out)
    print(f"  whole log: {where_to_look('<run id>')}", file=out)


def print_status(status: dict, out=None) -> None:
    out = out or sys.stdout  # looked up per call: a captured or replaced stdout is honoured
    tables, broken = status["tables"], status.get("broken", [])
    if broken:
        print(f"tables that do not load (their work is blocked, the others go on): {len(broken)}", file=out)
        for b in broken:
            print(f"  BROKEN {b['error']}", file=out)
        print(file=out)
    if not tables:
        if not broken:
            print("No tables yet. Run `make demo`, or drop files into the landing zone.", file=out)
        _print_failed_runs(status["failed_runs"], out)
        return
    width = max(len(t["table"]) for t in tables)
    print(f"{'table'.ljust(width)}  {'rows':>10}  {'snapshots':>9}  current snapshot", file=out)
    for t in tables:
        print(
            f"{t['table'].ljust(width)}  {t['rows']:>10,}  {t['snapshots']:>9}  {t['current_snapshot_id']}",
            file=out,
        )
    print(f"\nquarantined files: {len(status['quarantine'])}", file=out)
    for q in status["quarantine"]:
        print(f"  [{q['dataset']}] {q['reason']}: {q['message']}", file=out)
    if status.get("duplicates"):
        what = "duplicates skipped, same bytes as a file handled before (ingested or quarantined)"
        print(f"{what}: {len(status['duplicates'])}", file=out)
        for d in status["duplicates"]:
            print(f"  [{d['dataset']}] {d['message']}", file=out)
    if status["held_back"]:
        print(f"held back by the quality gate (main unchanged): {len(status['held_back'])}", file=out)
        for b in status["held_back"]:
            names = ", ".join(label(unquote(uri.rsplit("/", 1)[-1])) for uri, _ in b["files"]) or "model rows"
            print(f"  {b['table']} {b['branch']} (snapshot {b['snapshot_id']}): {names}", file=out)
    if status.get("set_apart_rows"):
        total = sum(status["set_apart_rows"].values())
        print(f"rows set apart, values that do not fit their columns (in ops.quarantine): {total}", file=out)
        for dataset, count in sorted(status["set_apart_rows"].items()):
            files = [f for f in status.get("set_apart_files", []) if f["dataset"] == dataset]
            print(f"  {dataset}: {count} in {len(files)} file(s); see them: {_rows_query(dataset)}", file=out)
            for f in files[:_LISTED]:
                print(f"    {f['file']}: {f['rows']}", file=out)
            if len(files) > _LISTED:
                print(
                    f"    and {len(files) - _LISTED} more file(s) (foundation status --json lists all)",
                    file=out,
                )
    if status["dropped_rows"]:
        total = sum(status["dropped_rows"].values())
        print(f"rows dropped by expectations (in ops.quarantine): {total}", file=out)
        for key, count in sorted(status["dropped_rows"].items()):
            print(f"  {key}: {count}", file=out)
    if status.get("resolved"):
        files = sum(r["scope"] == "file" for r in status["resolved"])
        rows = len(status["resolved"]) - files
        print(
            f"resolved since (a later commit took them; kept in ops.quarantine as the audit trail): "
            f"{files} file(s), {rows} row(s)",
            file=out,
        )
    _print_failed_runs(status["failed_runs"], out)


def status_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation status [--json]`: 1 when a table does not load, else 0."""
    result = table_status(settings)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_status(result)
    return 1 if result["broken"] else 0


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


STATUS = Subcommand(
    "status",
    "every Iceberg table with rows and snapshots, and the quarantine log",
    "dagster_project.status:status_command",
    _status_arguments,
)
