"""Latency benchmark: from dropping a file in the landing zone to the curated tables reflecting it.

`dagster dev` on the embedded default (its own data folder; sensor intervals as shipped: landing
sensors every 15 s, files at least 2 s old, the automation sensor every 10 s), customers and
products landed first; then `--drops` orders files, one at a time, each timed from the moment it
appears in the landing zone until raw.orders, staging.stg_orders and curated.orders (and
curated.customer_features) hold its rows. Target: curated within 90 s. Writes
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
from dagster_project.settings import Settings, load_settings  # noqa: E402
from tests.conftest import customers_csv, orders_csv, products_parquet  # noqa: E402
from tests.servers.dagster_dev import dagster_dev, drop_file, embedded_env, table_rows  # noqa: E402

TARGET_SECONDS = 90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=3)
    args = parser.parse_args()
    out_dir = load_settings().data_dir / "bench"
    data = out_dir / "latency-data"
    shutil.rmtree(data, ignore_errors=True)
    env = embedded_env(data)  # the shipped sensor intervals, not the caller's
    settings = Settings.for_data_dir(data)
    landing = data / "landing"
    drops = []
    with dagster_dev(env, out_dir / "latency-dagster-dev.log") as dev:
        drop_file(landing / "customers", "customers.csv", customers_csv(1, 7))
        drop_file(landing / "products", "products.parquet", products_parquet(1, 5))
        dev.wait_for(
            lambda: table_rows(settings, "staging.stg_customers") == 7, 300, "stg_customers (warm-up)"
        )
        dev.wait_for(lambda: table_rows(settings, "staging.stg_products") == 5, 300, "stg_products (warm-up)")
        expected = 0
        for i in range(args.drops):
            expected += 10
            start = time.monotonic()
            drop_file(landing / "orders", f"orders_{i}.csv", orders_csv(1 + i * 10, 10))
            seen: dict[str, float] = {}
            for table in ("raw.orders", "staging.stg_orders", "curated.orders"):
                what = f"{table} to hold drop {i + 1}"
                dev.wait_for(lambda t=table, n=expected: table_rows(settings, t) >= n, 600, what)
                seen[table] = round(time.monotonic() - start, 1)
            drops.append(seen)
            print(f"drop {i + 1}: {seen}", flush=True)
    curated = [d["curated.orders"] for d in drops]
    report = {
        "benchmark": "latency",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "drops": drops,
        "drop_to_curated_seconds_median": statistics.median(curated),
        "drop_to_curated_seconds_max": max(curated),
        "target_seconds": TARGET_SECONDS,
        "meets_target": max(curated) <= TARGET_SECONDS,
    }
    (out_dir / "latency.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
