"""Incremental cost benchmark: the staging + curated build of the 51st raw batch versus the first.

In one run, in a fresh data folder: 200 customers and 50 products, then 51 orders batches of
`--rows` rows each, every batch ingested by its raw run and followed by one build of every staging
and curated model (as the automation would start it), timed from the start of the Dagster run to
its end (dbt, the publish of every model through Write-Audit-Publish, the working-database sync).
Baseline in the same run: a full rebuild (`full_refresh`) of all models after the 51st batch,
whose cost grows with the data. Writes `.data/bench/incremental.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import dagster as dg

from dagster_project.catch_up import build_models, catch_up
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import customers_csv, land, products_parquet  # noqa: E402


def orders_batch(first_id: int, rows: int, rng: random.Random) -> str:
    lines = ["order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"]
    for i in range(first_id, first_id + rows):
        status = rng.choice(["placed", "shipped", "delivered", "delivered", "returned"])
        lines.append(
            f"{i},{rng.randint(1, 200)},{rng.randint(1, 50)},{rng.randint(1, 4)},"
            f"{rng.randint(5, 500)}.{rng.randint(0, 99):02d},EUR,{status},"
            f"2026-11-{rng.randint(1, 20):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
        )
    return "\n".join(lines) + "\n"


def timed_build(settings: Settings, instance: dg.DagsterInstance, full_refresh: bool = False) -> float:
    start = time.perf_counter()
    success, models = build_models(settings, instance, full_refresh=full_refresh)
    elapsed = time.perf_counter() - start
    if not success:
        raise SystemExit(f"build failed: {models}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=51)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    out_dir = load_settings().data_dir / "bench"
    work = out_dir / "incremental-data"
    shutil.rmtree(work, ignore_errors=True)
    settings = Settings.for_data_dir(work, sensor_min_file_age_seconds=0)
    instance = dg.DagsterInstance.ephemeral()
    rng = random.Random(51)
    land(settings, "customers/customers.csv", customers_csv(1, 200))
    land(settings, "products/products.parquet", products_parquet(1, 50))
    catch_up(settings, instance)
    seconds = []
    for batch in range(args.batches):
        land(settings, f"orders/orders_{batch:03d}.csv", orders_batch(1 + batch * args.rows, args.rows, rng))
        outcomes = catch_up(settings, instance)
        assert all(o.success for o in outcomes), outcomes
        seconds.append(timed_build(settings, instance))
        print(f"batch {batch + 1:>3}: staging + curated build {seconds[-1]:.2f} s", flush=True)
    rebuild = timed_build(settings, instance, full_refresh=True)
    total_orders = open_catalog(settings).load_table("curated.orders").scan().to_arrow().num_rows
    assert total_orders == args.batches * args.rows, total_orders
    report = {
        "benchmark": "incremental",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "rows_per_batch": args.rows,
        "batches": args.batches,
        "total_orders": total_orders,
        "first_batch_seconds": round(seconds[0], 2),
        "last_batch_seconds": round(seconds[-1], 2),
        "ratio_last_to_first": round(seconds[-1] / seconds[0], 2),
        "median_batches_2_to_6_seconds": round(statistics.median(seconds[1:6]), 2),
        "median_last_5_seconds": round(statistics.median(seconds[-5:]), 2),
        "full_rebuild_seconds": round(rebuild, 2),
        "target": "last batch <= 2x first batch",
        "pass": seconds[-1] <= 2 * seconds[0],
        # This process and dbt's (its children): the peak of each.
        "peak_rss_mib": round(
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            / 1024,
            1,
        ),
        "all_batch_seconds": [round(s, 2) for s in seconds],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "incremental.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "all_batch_seconds"}, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
