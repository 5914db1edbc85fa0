"""Latency benchmark: from dropping a file in the landing zone to the curated table holding its rows.

`dagster dev` on the embedded default (its own data folder, the shipped settings: sensor intervals,
minimum file age, executor), customers and products landed first; then `--drops` orders files of 10
rows, one at a time once no run is left in flight, each timed from the moment it appears in the
landing zone until curated.orders holds its rows. Each drop is split into phases read from the
Dagster instance (`latency_breakdown.py`): detect, run start, ingest, handoff, dbt, publish, plus
dbt's own elapsed time and node count from its run results. Target: median ≤ 20 s. Writes
`.data/bench/latency.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency_breakdown import PHASES, breakdown  # noqa: E402

from dagster_project.settings import Settings, load_settings  # noqa: E402
from dagster_project.transform.build import dbt_target_dir  # noqa: E402
from tests.conftest import customers_csv, orders_csv, products_parquet  # noqa: E402
from tests.servers.dagster_dev import dagster_dev, drop_file, embedded_env, table_rows  # noqa: E402

TARGET_SECONDS = 20


def runs_in_flight(instance) -> int:
    from dagster import DagsterRunStatus, RunsFilter

    busy = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]
    return instance.get_runs_count(RunsFilter(statuses=[*busy, DagsterRunStatus.STARTED]))


def dbt_results(settings: Settings) -> dict[str, float]:
    """dbt's own elapsed seconds and node count of its last invocation (its run_results.json)."""
    path = dbt_target_dir(settings) / "run_results.json"
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {"dbt_elapsed": round(results.get("elapsed_time", 0.0), 1), "dbt_nodes": len(results["results"])}


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=5)
    args = parser.parse_args()
    out_dir = load_settings().data_dir / "bench"
    data = out_dir / "latency-data"
    shutil.rmtree(data, ignore_errors=True)
    env = embedded_env(data)  # the shipped settings, not the caller's
    settings = Settings.for_data_dir(data)
    landing = data / "landing"
    drops = []
    print(f"load average at start: {load()} ({os.cpu_count()} cores)", flush=True)
    with dagster_dev(env, out_dir / "latency-dagster-dev.log") as dev:
        from dagster import DagsterInstance

        instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
        drop_file(landing / "customers", "customers.csv", customers_csv(1, 7))
        drop_file(landing / "products", "products.parquet", products_parquet(1, 5))
        dev.wait_for(
            lambda: table_rows(settings, "staging.stg_customers") == 7, 300, "stg_customers (warm-up)"
        )
        dev.wait_for(lambda: table_rows(settings, "staging.stg_products") == 5, 300, "stg_products (warm-up)")
        expected = 0
        for i in range(args.drops):
            dev.wait_for(lambda: runs_in_flight(instance) == 0, 600, "runs in flight to finish")
            expected += 10
            dropped = time.time()
            drop_file(landing / "orders", f"orders_{i}.csv", orders_csv(1 + i * 10, 10))
            what = f"curated.orders to hold drop {i + 1}"
            dev.wait_for(lambda n=expected: table_rows(settings, "curated.orders") >= n, 600, what)
            seen = time.time()
            dev.wait_for(lambda: runs_in_flight(instance) == 0, 600, "runs in flight to finish")
            drop = {"total": round(seen - dropped, 1), **breakdown(instance, dropped, seen)}
            drop |= dbt_results(settings)
            drop["load"] = load()
            drops.append(drop)
            print(f"drop {i + 1}: {drop}", flush=True)
    totals = [d["total"] for d in drops]
    medians = {
        phase: statistics.median(d[phase] for d in drops if phase in d)
        for phase in (*PHASES, "dbt_elapsed")
        if any(phase in d for d in drops)
    }
    median = statistics.median(totals)
    report = {
        "benchmark": "latency",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_average_end": load()},
        "drops": drops,
        "phase_medians_seconds": medians,
        "drop_to_curated_seconds_median": median,
        "drop_to_curated_seconds_max": max(totals),
        "target_seconds": TARGET_SECONDS,
        "pass": median <= TARGET_SECONDS,
    }
    (out_dir / "latency.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(
        "median seconds: "
        + ", ".join(f"{k} {v}" for k, v in medians.items())
        + f" | total {median} (target {TARGET_SECONDS}: {'pass' if report['pass'] else 'FAIL'})"
    )
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
