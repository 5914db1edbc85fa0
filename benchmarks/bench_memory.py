"""Memory benchmark: peak RSS of ingesting a ~2 GB file of each format, against DuckDB reading it alone.

The platform's promise is that no single file up to 2 GB takes the ingest past 1 GiB of memory:
every format streams. Each measurement runs in a fresh child process (peak RSS via wait4); the
baseline, in the same run, is DuckDB alone streaming the same file into Parquet (no types, no
checks, no Iceberg), so the ratio says what the platform's own work costs on top. A document of
the same size is refused by its size limit before a byte of it is read.

Run with `make bench-memory`; `--gib` changes the size (default 2.0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

from bench_ingest import _child  # the same fresh-process measurement as the ingest benchmark

from dagster_project.settings import load_settings

OURS = """
import sys, time
from pathlib import Path
from dagster_project.ingest.run import ingest_dataset
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.ingest import ingest_documents
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
start = time.perf_counter()
if sys.argv[2] == "documents":
    report = ingest_documents(settings, load_documents_config(settings.documents_file), run_id="bench")
    assert len(report.quarantined) == 1, report.quarantined
else:
    report = ingest_dataset(settings, load_registry(settings.sources_file)[sys.argv[2]], run_id="bench")
    assert not report.quarantined, [q.message for q in report.quarantined]
print(time.perf_counter() - start, report.rows)
"""

BASELINE = """
import sys, time, duckdb
reader = {"csv": "read_csv_auto", "jsonl": "read_json_auto", "parquet": "read_parquet"}[sys.argv[2]]
start = time.perf_counter()
con = duckdb.connect(config={"memory_limit": "1GB"})
con.execute("SET enable_progress_bar = false")
con.execute("SET preserve_insertion_order = false")
sql = f"COPY (SELECT * FROM {reader}('{sys.argv[1]}')) TO '{sys.argv[3]}' (FORMAT parquet)"
rows = con.execute(sql).fetchone()[0]
print(time.perf_counter() - start, rows)
"""

# (dataset, format, file name, DuckDB SQL writing about `rows` rows of that dataset's columns)
ORDERS = (
    "SELECT i AS order_id, i % 9973 AS customer_id, i % 499 AS product_id, 1 + i % 7 AS quantity, "
    "CAST((i % 100000) / 100.0 AS DECIMAL(12,2)) AS amount, 'EUR' AS currency, 'shipped' AS status, "
    "TIMESTAMP '2026-11-01' + to_microseconds(i) AS ordered_at FROM range({rows}) t(i)"
)
TICKETS = (
    "SELECT i AS ticket_id, i % 9973 AS customer_id, 'email' AS channel, 'low' AS priority, "
    "'open' AS status, 'Order ' || i || ' has not arrived' AS subject, "
    "'Hello, my order ' || i || ' is late; please help. ' || repeat('x', 40) AS body, "
    "strftime(TIMESTAMP '2026-11-01' + to_microseconds(i), '%Y-%m-%d %H:%M:%S') AS created_at "
    "FROM range({rows}) t(i)"
)
PRODUCTS = (
    "SELECT i AS product_id, 'SKU-' || i AS sku, 'Product ' || i AS name, 'home' AS category, "
    "CAST((i % 100000) / 100.0 AS DECIMAL(10,2)) AS unit_price, i % 2 = 0 AS active, "
    "TIMESTAMP '2026-10-01' + to_microseconds(i) AS updated_at FROM range({rows}) t(i)"
)
FORMATS = {
    "csv": ("orders", "orders/big.csv", ORDERS, "(FORMAT csv, HEADER true)", 62),
    "jsonl": ("support_tickets", "support_tickets/big.jsonl", TICKETS, "(FORMAT json)", 260),
    "parquet": ("products", "products/big.parquet", PRODUCTS, "(FORMAT parquet, ROW_GROUP_SIZE 122880)", 20),
}


def _write(path: Path, sql: str, options: str, target_bytes: int, bytes_per_row: int) -> int:
    """Write about `target_bytes` with DuckDB; returns the file's size."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = max(1000, target_bytes // bytes_per_row)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY ({sql.format(rows=rows)}) TO '{path}' {options}")
    return path.stat().st_size


def measure(workdir: Path, fmt: str, target_bytes: int) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    data = workdir / "data"
    dataset, key, sql, options, bytes_per_row = FORMATS[fmt]
    path = data / "landing" / key
    started = time.perf_counter()
    size = _write(path, sql, options, target_bytes, bytes_per_row)
    print(f"  {fmt}: wrote {size / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s")
    base_s, base_rows, base_rss = _child(BASELINE, str(path), fmt, str(workdir / "duckdb.parquet"))
    ours_s, ours_rows, ours_rss = _child(OURS, str(data), dataset)
    assert ours_rows == base_rows, (ours_rows, base_rows)
    shutil.rmtree(workdir)
    return {
        "format": fmt,
        "bytes": size,
        "rows": ours_rows,
        "ours_seconds": round(ours_s, 2),
        "duckdb_seconds": round(base_s, 2),
        "ours_peak_rss_mib": round(ours_rss, 1),
        "duckdb_peak_rss_mib": round(base_rss, 1),
        "rss_ratio": round(ours_rss / base_rss, 3),
    }


def measure_document(workdir: Path, target_bytes: int) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    data = workdir / "data"
    path = data / "landing" / "documents" / "huge.txt"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        handle.truncate(target_bytes)  # sparse: the size limit refuses it unread
    seconds, _, rss = _child(OURS, str(data), "documents")
    shutil.rmtree(workdir)
    return {
        "format": "document",
        "bytes": target_bytes,
        "ours_seconds": round(seconds, 2),
        "ours_peak_rss_mib": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=2.0, help="size of each file in GiB")
    parser.add_argument("--formats", default="csv,jsonl,parquet,document", help="comma-separated")
    args = parser.parse_args()
    wanted = args.formats.split(",")
    settings = load_settings()
    out_dir = settings.data_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = int(args.gib * 2**30)
    rounds = []
    for fmt in [f for f in FORMATS if f in wanted]:
        rounds.append(measure(out_dir / "memory-work", fmt, target))
        print("  " + json.dumps(rounds[-1]))
    if "document" in wanted:
        rounds.append(measure_document(out_dir / "memory-work", target))
        print("  " + json.dumps(rounds[-1]))
    report = {
        "benchmark": "memory",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "rounds": rounds,
        "targets": {"ours_peak_rss_mib": "<= 1024 for every format"},
    }
    report["pass"] = all(r["ours_peak_rss_mib"] <= 1024 for r in rounds)
    (out_dir / "memory.json").write_text(json.dumps(report, indent=2))
    print()
    print(f"{'format':>9} {'GiB':>5} {'rows':>12} {'ours s':>7} {'ours RSS MiB':>13} {'DuckDB RSS MiB':>15}")
    for r in rounds:
        print(
            f"{r['format']:>9} {r['bytes'] / 2**30:>5.2f} {r.get('rows', 1):>12,} {r['ours_seconds']:>7.1f} "
            f"{r['ours_peak_rss_mib']:>13.0f} {r.get('duckdb_peak_rss_mib', 0):>15.0f}"
        )
    print(f"targets met: {report['pass']}   (report: {out_dir / 'memory.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
