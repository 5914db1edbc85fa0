"""Quality-gate benchmark: validating a batch against its suite versus ingesting the same batch.

In one run, on one generated 5,000,000-row orders CSV: (1) our ingest of it (checksum, DuckDB
conversion, commit), (2) the gate on the same batch (every batch-level expectation of the
raw.orders suite, uniqueness included) as a run does it: right after the conversion, on the
same DuckDB connection, only the gate timed. Each in a fresh process with its own peak RSS,
medians of `--repeats`; and the time to load the Dagster definitions (Great Expectations must not be
imported then). Writes `.data/bench/gates.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from dagster_project.settings import load_settings

INGEST = """
import sys, time
from pathlib import Path
from dagster_project.ingest.run import ingest_dataset
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
import pyiceberg.catalog.sql, pyiceberg.io.pyarrow  # library imports stay outside the timers
settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
dataset = load_registry(settings.sources_file)["orders"]
start = time.perf_counter()
report = ingest_dataset(settings, dataset, run_id="bench", keys=[sys.argv[2]])
print(time.perf_counter() - start, report.rows, 0)
"""

VALIDATE = """
import dataclasses, sys, time
from datetime import datetime, timezone
from pathlib import Path
from dagster_project.ingest.convert import connect, convert_file
from dagster_project.lakehouse.publish import StagedFile
from dagster_project.lakehouse.tables import LINEAGE_FIELDS
from dagster_project.quality.gate import GateReport, gate_batch, suite_parameters
from dagster_project.quality.suites import parse_suite, suite_path
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
settings = Settings.for_data_dir(Path(sys.argv[1]))
dataset = load_registry(settings.sources_file)["orders"]
columns = {c.name for c in dataset.columns} | {n for n, _, _ in LINEAGE_FIELDS}
suite = parse_suite(suite_path(dataset.table), columns, dataset.table)
# Every expectation that judges the batch alone; uniqueness within the batch instead of
# against the table (the generated batch's customers are not in raw.customers).
batch_suite = dataclasses.replace(suite, expectations=tuple(
    dataclasses.replace(e, against_table=False) for e in suite.expectations if not e.tables_read
))
con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
# As in an ingest run, the gate follows the conversion on the same connection (the conversion
# is the ingest's own work, timed by the ingest contender, not here).
staged_path = Path(sys.argv[1]) / "staged.parquet"
convert_file(con, dataset, Path(sys.argv[2]), source_label="bench", out_path=staged_path,
    table_columns={c.name: c.type for c in dataset.columns},
    lineage={"_source_file": "file:///bench.csv", "_source_checksum": "x",
             "_ingested_at": "2026-11-22T00:00:00+00:00", "_run_id": "bench"})
staged = [StagedFile("file:///bench.csv", "x", staged_path, 0, 0)]
report = GateReport(batch_suite)
now = datetime.now(timezone.utc)
start = time.perf_counter()
gate_batch(con, batch_suite, staged, dataset="orders", run_id="bench", pii_columns=set(),
           parameters=suite_parameters(now, dataset.freshness_max_age_hours), report=report)
elapsed = time.perf_counter() - start
assert len(report.results) == len(batch_suite.expectations) >= 10, len(report.results)
print(elapsed, report.results[0].element_count, len(report.results))
"""

DEFINITIONS = """
import sys, time
start = time.perf_counter()
import dagster_project.definitions
elapsed = time.perf_counter() - start
print(elapsed, int("great_expectations" in sys.modules), 0)
"""


def _child(code: str, *args: str) -> tuple[float, int, int, float]:
    """Run `code` in a fresh interpreter: (seconds it reported, count, extra, peak RSS MiB)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {output}")
    seconds, count, extra = output.strip().splitlines()[-1].split()
    return float(seconds), int(count), int(extra), usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from dagster_project.demo.sample_data.generator import write_orders_csv

    out_dir = load_settings().data_dir / "bench"
    work = out_dir / "gates-work"
    shutil.rmtree(work, ignore_errors=True)
    landing = work / "data" / "landing" / "orders"
    landing.mkdir(parents=True)
    csv = landing / "orders_bench.csv"
    started = time.perf_counter()
    size = write_orders_csv(csv, args.rows)
    print(f"generated {args.rows:,} rows, {size / 2**20:,.0f} MiB in {time.perf_counter() - started:.1f} s")

    ingest_runs, validate_runs = [], []
    for _ in range(args.repeats):
        shutil.rmtree(work / "data" / "warehouse", ignore_errors=True)
        (work / "data" / "catalog.db").unlink(missing_ok=True)
        ingest_runs.append(_child(INGEST, str(work / "data"), f"orders/{csv.name}"))
        shutil.rmtree(work / "validate", ignore_errors=True)
        validate_runs.append(_child(VALIDATE, str(work / "validate"), str(csv)))
    definitions = [_child(DEFINITIONS) for _ in range(args.repeats)]
    shutil.rmtree(work)

    ingest_s = statistics.median(r[0] for r in ingest_runs)
    validate_s = statistics.median(r[0] for r in validate_runs)
    load_s = statistics.median(r[0] for r in definitions)
    report = {
        "benchmark": "gates",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "rows": args.rows,
        "bytes": size,
        "expectations": validate_runs[0][2],
        "ingest_seconds": round(ingest_s, 3),
        "validation_seconds": round(validate_s, 3),
        "validation_to_ingest_ratio": round(validate_s / ingest_s, 3),
        "validation_peak_rss_mib": round(max(r[3] for r in validate_runs), 1),
        "ingest_peak_rss_mib": round(max(r[3] for r in ingest_runs), 1),
        "definitions_load_seconds": round(load_s, 3),
        "great_expectations_imported_at_load": bool(max(r[1] for r in definitions)),
        "runs": {
            "ingest": [round(r[0], 3) for r in ingest_runs],
            "validation": [round(r[0], 3) for r in validate_runs],
            "definitions_load": [round(r[0], 3) for r in definitions],
        },
        "targets": {"validation_to_ingest_ratio": "<= 0.5", "definitions_load_seconds": "< 5"},
    }
    report["pass"] = (
        report["validation_to_ingest_ratio"] <= 0.5
        and load_s < 5
        and not report["great_expectations_imported_at_load"]
    )
    (out_dir / "gates.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("runs", "machine")}, indent=2))
    print(f"targets met: {report['pass']}   (report: {out_dir / 'gates.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
