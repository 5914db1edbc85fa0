"""Many-files benchmark: thousands of small files land at once; how long until raw holds them all.

`dagster dev` with its daemon on the embedded default (its own data folder, sensor intervals as
shipped), customers and products landed first (the orders gate checks every order's customer in
raw.customers); then `--files` orders files of `--rows` rows appear in the landing zone at once
(written under hidden names, then renamed), timed until raw.orders holds all their rows. Beside it,
in the same run, one file per run (`FOUNDATION_SENSOR_MAX_FILES_PER_RUN=1`, as before batched runs)
on `--baseline-files` files, extrapolated linearly to `--files` (said so in the output). Target:
2,000 files of 100 rows in raw within 60 s. Writes `.data/bench/files.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dagster_project.settings import Settings, load_settings  # noqa: E402
from tests.conftest import customers_csv, orders_csv, products_parquet  # noqa: E402
from tests.servers.dagster_dev import dagster_dev, drop_file, embedded_env, table_rows  # noqa: E402

TARGET_SECONDS = 60


def land_all(folder: Path, files: int, rows: int) -> None:
    """Write every orders file under a hidden name first, then rename them all: they land at once."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = []
    for i in range(files):
        tmp = folder / f".orders_{i:05d}.csv.tmp"
        tmp.write_text(orders_csv(1 + i * rows, rows))
        hidden.append(tmp)
    for tmp in hidden:
        tmp.rename(folder / tmp.name[1:].removesuffix(".tmp"))


def active_runs(dagster_home: str) -> int:
    """Runs of the instance at `dagster_home` that are queued or not finished."""
    import dagster as dg

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        unfinished = [s for s in dg.DagsterRunStatus if s not in (dg.DagsterRunStatus.SUCCESS,
                      dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]  # fmt: skip
        return instance.get_runs_count(dg.RunsFilter(statuses=unfinished))


def measure(out_dir: Path, name: str, files: int, rows: int, per_run: int | None) -> dict:
    """Seconds from the files landing until raw.orders holds all their rows, under `dagster dev`."""
    data = out_dir / f"files-data-{name}"
    shutil.rmtree(data, ignore_errors=True)
    overrides = {"FOUNDATION_SENSOR_MAX_FILES_PER_RUN": str(per_run)} if per_run else {}
    env = embedded_env(data, **overrides)
    settings = Settings.for_data_dir(data)
    landing = data / "landing"
    with dagster_dev(env, out_dir / f"files-{name}-dagster-dev.log") as dev:
        drop_file(landing / "customers", "customers.csv", customers_csv(1, 7))
        drop_file(landing / "products", "products.parquet", products_parquet(1, 5))
        dev.wait_for(lambda: table_rows(settings, "raw.customers") == 7, 300, "raw.customers (warm-up)")
        dev.wait_for(lambda: table_rows(settings, "raw.products") == 5, 300, "raw.products (warm-up)")
        # Their landing runs go on to build the downstream models (dbt): timed from a quiet instance,
        # the orders batches do not share the cores with the warm-up's model builds.
        dev.wait_for(lambda: not active_runs(env["DAGSTER_HOME"]), 600, "the warm-up runs to finish")
        start = time.monotonic()
        land_all(landing / "orders", files, rows)
        landed = time.monotonic() - start
        expected = files * rows
        dev.wait_for(lambda: table_rows(settings, "raw.orders") >= rows, 1800, "raw.orders to hold a file")
        first = time.monotonic() - start
        dev.wait_for(
            lambda: table_rows(settings, "raw.orders") >= expected,
            3600,
            f"raw.orders to hold {expected} rows",
        )
        seconds = time.monotonic() - start
    shutil.rmtree(data, ignore_errors=True)
    result = {
        "files": files,
        "rows": expected,
        "seconds": round(seconds, 1),
        "first_file_seconds": round(first, 1),  # the first run: the tick, the queue, a run's start
        "landing_seconds": round(landed, 1),
    }
    print(f"{name}: {result}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--baseline-files", type=int, default=20)
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-file-per-run baseline")
    args = parser.parse_args()
    out_dir = load_settings().data_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    batched = measure(out_dir, "batched", args.files, args.rows, None)
    report: dict = {
        "benchmark": "files",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_before": load},
        "batched": batched,
        "target_seconds": TARGET_SECONDS,
        "pass": args.files >= 2000 and batched["seconds"] <= TARGET_SECONDS,
    }
    rows = [
        {
            "benchmark": f"{args.files:,} files land at once → raw (dagster dev)",
            "ours": f"{batched['seconds']} s, batched runs",
            "baseline": "",
            "ratio": "",
            "target": f"<= {TARGET_SECONDS} s",
            "pass": report["pass"],
            "peak_rss_mib": None,
            "input": f"{args.files:,} CSV files × {args.rows} rows",
        }
    ]
    if not args.no_baseline:
        single = measure(out_dir, "one-per-run", args.baseline_files, args.rows, 1)
        # The first file's wait (tick, queue, a run's start), then one more run per further file.
        per_file = (single["seconds"] - single["first_file_seconds"]) / max(1, single["files"] - 1)
        extrapolated = round(single["first_file_seconds"] + per_file * (args.files - 1), 1)
        report["one_run_per_file"] = {
            **single,
            "seconds_per_file": round(per_file, 2),
            "extrapolated_seconds": extrapolated,
            "note": f"measured on {single['files']} files, extrapolated linearly to {args.files}: "
            "the first file's wait, then the measured seconds per further file",
        }
        report["speedup"] = round(extrapolated / batched["seconds"], 1)
        rows[0]["baseline"] = (
            f"one run per file: {single['seconds']} s for {single['files']} files, "
            f"≈ {extrapolated} s for {args.files:,} (extrapolated)"
        )
        rows[0]["ratio"] = f"{report['speedup']}× faster"
    report["report_rows"] = rows
    report["load_after"] = os.getloadavg()
    (out_dir / "files.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
