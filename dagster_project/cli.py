"""The `foundation` command: status of every table, the headless demo, sample data."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from dagster_project.settings import Settings, load_settings


def table_status(settings: Settings) -> dict:
    """Every Iceberg table with rows, snapshots and current snapshot; and the quarantine log."""
    from dagster_project.lakehouse.ops import QUARANTINE_TABLE, read_quarantine
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    tables = []
    for namespace in sorted(catalog.list_namespaces()):
        for identifier in sorted(catalog.list_tables(namespace)):
            table = catalog.load_table(identifier)
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
    quarantine = []
    if any(t["table"] == QUARANTINE_TABLE for t in tables):
        for row in read_quarantine(catalog).to_pylist():
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
    return {"catalog": settings.catalog_name, "tables": tables, "quarantine": quarantine}


def print_status(status: dict, out=sys.stdout) -> None:
    tables = status["tables"]
    if not tables:
        print("No tables yet. Run `make demo`, or drop files into the landing zone.", file=out)
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


def sync_sample_data(settings: Settings, seed: int, scale: float, out: Path | None = None) -> list[str]:
    """Write the sample landing data, only files that changed (unchanged files keep their mtime).

    Args:
        settings: The landing zone to write to (a local folder or S3).
        seed: Generator seed; the same seed gives the same bytes.
        scale: Row-count multiplier.
        out: A local folder to write to instead of the landing zone.

    Returns:
        The landing keys written.
    """
    from dagster_project.landing.store import LocalLanding, open_landing
    from dagster_project.sample_data.generator import generate

    landing = LocalLanding(out.resolve().as_uri()) if out else open_landing(settings)
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        for generated in generate(Path(tmp), seed=seed, scale=scale):
            key = generated.path.relative_to(tmp).as_posix()
            if landing.put_if_changed(key, generated.path):
                changed.append(key)
    return changed


def run_demo(settings: Settings, seed: int = 42) -> int:
    """Generate sample data, run every raw asset once headless, print the summary."""
    import dagster as dg

    from dagster_project.definitions import build_defs

    changed = sync_sample_data(settings, seed=seed, scale=1.0)
    print(f"sample data: {len(changed)} new or changed file(s) in {settings.landing_uri}")
    defs = build_defs(settings)
    settings.dagster_home_dir.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home_dir))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    print(f"\nrun {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        md = mat.metadata
        print(
            f"  {mat.asset_key.to_user_string()}: +{md['rows_ingested'].value} rows from "
            f"{md['files_ingested'].value} file(s), {md['files_skipped'].value} skipped, "
            f"{md['files_quarantined'].value} quarantined"
        )
    print()
    print_status(table_status(settings))
    return 0 if result.success else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="foundation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser(
        "status", help="every Iceberg table with rows and snapshots, and the quarantine log"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    demo = commands.add_parser("demo", help="generate sample data and run the pipeline headless")
    demo.add_argument("--seed", type=int, default=42)
    generate = commands.add_parser("generate", help="write the sample landing data")
    generate.add_argument(
        "--out", type=Path, help="landing folder (default: the configured local landing zone)"
    )
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--scale", type=float, default=1.0, help="multiply row counts")
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.command == "status":
        result = table_status(settings)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_status(result)
        return 0
    if args.command == "demo":
        return run_demo(settings, seed=args.seed)
    changed = sync_sample_data(settings, seed=args.seed, scale=args.scale, out=args.out)
    print(f"{len(changed)} new or changed file(s) in {args.out or settings.landing_uri}")
    return 0
