"""Governance benchmark: governed-query overhead, what compaction and expiry buy, data-card cost.

In one run, on a table built for it in a temporary data dir: (1) an aggregate query through
`foundation query` as the `analyst` persona (policy check, column pruning, masks, audit row) against
the same SQL in DuckDB over the same columns scanned from Iceberg (the baseline: no policy, no
audit), alternating, medians of `--repeats` (target <= 1.5); (2) `--commits` small appends, then a
full scan before and after `compact` + `expire_snapshots` + `remove_orphan_files`, with data files,
snapshots and metadata bytes before/after (target: scan after / before < 1, no row lost); (3) the
time to profile and write the table's data card. Writes `.data/bench/governance.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.governance.policy import load_policies
from dagster_project.governance.query import execute, run_query
from dagster_project.governance.salt import pii_salt
from dagster_project.lakehouse.compaction import compact
from dagster_project.lakehouse.table_maintenance import expire_snapshots, remove_orphan_files, table_stats
from dagster_project.lakehouse.tables import ensure_namespace, open_catalog
from dagster_project.settings import Settings, load_settings

TABLE = "curated.bench_events"
SQL = f"select category, count(*) as n, sum(amount) as total from {TABLE} group by 1 order by 1"


def _rows(start: int, count: int) -> pa.Table:
    ids = pa.array(range(start, start + count), pa.int64())
    return pa.table(
        {
            "event_id": ids,
            "category": pa.array([("a", "b", "c", "d")[i % 4] for i in range(start, start + count)]),
            "amount": pa.array([float(i % 997) for i in range(start, start + count)], pa.float64()),
            "note": pa.array([f"event {i}" for i in range(start, start + count)]),
        }
    )


def _timed(fn) -> tuple[float, object]:  # noqa: ANN001
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _metadata_bytes(table) -> int:  # noqa: ANN001
    return len(table.metadata.model_dump_json())


def governed_query(settings: Settings, repeats: int) -> dict:
    catalog = open_catalog(settings)

    def baseline() -> pa.Table:
        events = catalog.load_table(TABLE).scan(selected_fields=("category", "amount")).to_arrow()
        con = duckdb.connect()
        con.register("events", events)
        return con.execute(SQL.replace(TABLE, "events")).fetch_arrow_table()

    persona = load_policies(settings.personas_file).persona("analyst")
    ours, policy_only, base = [], [], []
    for _ in range(repeats):
        seconds, result = _timed(lambda: run_query(settings, "analyst", SQL).rows)
        ours.append(seconds)
        seconds, _ = _timed(lambda: execute(catalog, persona, SQL, salt=pii_salt(settings)))
        policy_only.append(seconds)
        seconds, expected = _timed(baseline)
        base.append(seconds)
    assert result.to_pylist() == expected.to_pylist(), "governed and direct results differ"
    return {
        "governed_seconds": round(statistics.median(ours), 4),
        "governed_without_audit_seconds": round(statistics.median(policy_only), 4),
        "direct_seconds": round(statistics.median(base), 4),
        "overhead_ratio": round(statistics.median(ours) / statistics.median(base), 3),
    }


def maintenance(settings: Settings, commits: int) -> dict:
    catalog = open_catalog(settings)
    table = catalog.load_table(TABLE)
    scan_before, rows_before = _timed(lambda: table.scan().to_arrow())
    before, meta_before = table_stats(table), _metadata_bytes(table)
    later = datetime.now(UTC) + timedelta(seconds=1)
    timings = {}
    timings["compact"], report = _timed(lambda: compact(table, target_file_bytes=128 << 20, min_files=2))
    timings["expire"], _ = _timed(
        lambda: expire_snapshots(table, older_than=timedelta(0), keep_last=1, now=later)
    )
    timings["orphans"], orphans = _timed(
        lambda: remove_orphan_files(table, older_than=timedelta(0), now=later)
    )
    table = catalog.load_table(TABLE)
    scan_after, rows_after = _timed(lambda: table.scan().to_arrow())
    after = table_stats(table)
    assert sorted(rows_after["event_id"].to_pylist()) == sorted(rows_before["event_id"].to_pylist())
    return {
        "commits": commits,
        "rows": rows_after.num_rows,
        "data_files_before": before.data_files,
        "data_files_after": after.data_files,
        "snapshots_before": before.snapshots,
        "snapshots_after": after.snapshots,
        "metadata_json_bytes_before": meta_before,
        "metadata_json_bytes_after": _metadata_bytes(table),
        "files_removed_as_orphans": orphans.files_removed,
        "scan_seconds_before": round(scan_before, 4),
        "scan_seconds_after": round(scan_after, 4),
        "scan_ratio": round(scan_after / scan_before, 3),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "compaction_notes": report.notes,
    }


def card_cost(settings: Settings) -> dict:
    from dagster_project.cards.profile import profile_table

    catalog = open_catalog(settings)
    seconds, profile = _timed(lambda: profile_table(settings, catalog.load_table(TABLE)))
    return {"profile_seconds": round(seconds, 3), "rows": profile.rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--commits", type=int, default=200, help="small appends (compaction input)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    out = load_settings().data_dir / "bench" / "governance.json"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.for_data_dir(Path(tmp) / "data")
        catalog = open_catalog(settings)
        first = _rows(0, args.rows)
        ensure_namespace(catalog, "curated")
        table = catalog.create_table(TABLE, schema=first.schema)
        small = max(1, args.rows // (10 * args.commits))
        table.append(first.slice(0, args.rows - small * args.commits))
        for i in range(args.commits):
            offset = args.rows - small * (args.commits - i)
            table.append(first.slice(offset, small))
        print(f"table: {args.rows:,} rows in {args.commits + 1} commits", file=sys.stderr)
        query = governed_query(settings, args.repeats)
        print(f"governed query: {query}", file=sys.stderr)
        maintained = maintenance(settings, args.commits)
        print(f"maintenance: {maintained}", file=sys.stderr)
        card = card_cost(settings)
    result = {
        "benchmark": "governance",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "query": {"sql": SQL, "rows": args.rows, **query},
        "maintenance": maintained,
        "card": card,
        "targets": {"overhead_ratio": "<= 1.5", "scan_ratio": "< 1"},
        "pass": query["overhead_ratio"] <= 1.5 and maintained["scan_ratio"] < 1,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    met = query["overhead_ratio"] <= 1.5 and maintained["scan_ratio"] < 1
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
