"""GX fallback benchmark: an expectation we do not compile, run by GX's engine, against a compiled one.

In one run, on one generated orders batch (Parquet, `--rows` rows, with the row identity the gate
adds): (1) the baseline, a compiled expectation (`expect_column_values_to_not_be_null` on
`customer_id`) evaluated in DuckDB; (2) the same batch with one expectation from GX's core that we
do not compile (`expect_column_values_to_be_json_parseable` on `customer_id`), evaluated through
GX's pandas engine: the batch read into pandas, GX imported. Each in a fresh process with its own
peak RSS (the import of GX included: a run pays it), medians of `--repeats`; the report gives the
ratios fallback / baseline. Writes `.data/bench/gx_fallback.json`.
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

from dagster_project.settings import load_settings

EVALUATE = """
import sys, time
import duckdb
from dagster_project.quality.engine import evaluate
from dagster_project.quality.suites import Expectation
kind = sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.read_parquet(sys.argv[1]).create_view("batch")
expectation = Expectation(0, kind, {"column": "customer_id"})
start = time.perf_counter()
result = evaluate(con, [expectation], relation="batch", parameters={}, pii_columns=set())[0]
elapsed = time.perf_counter() - start
assert result.engine == sys.argv[3], result.engine
print(elapsed, result.element_count, 0)
"""

COMPILED = ("expect_column_values_to_not_be_null", "duckdb")
FALLBACK = ("expect_column_values_to_be_json_parseable", "great_expectations")


def _child(code: str, *args: str) -> tuple[float, int, float]:
    """Run `code` in a fresh interpreter: (seconds it reported, rows, peak RSS MiB)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {output}")
    seconds, rows, _ = output.strip().splitlines()[-1].split()
    return float(seconds), int(rows), usage.ru_maxrss / 1024


def _batch(path, rows: int) -> None:
    """An orders-like batch with the gate's row identity columns, written by DuckDB."""
    import duckdb
    from sqlglot import exp

    n = exp.column("range")
    text = exp.cast(n, "VARCHAR")
    generated = exp.select(
        exp.Concat(expressions=[exp.convert("C"), exp.cast(n % 50_000, "VARCHAR")]).as_("customer_id"),
        n.as_("order_id"),
        (exp.cast(n % 1000, "DOUBLE") / 10).as_("amount"),
        exp.Concat(expressions=[exp.convert("product-"), text]).as_("product_name"),
        exp.convert("orders.csv").as_("filename"),
        n.as_("file_row_number"),
    ).from_(exp.func("range", exp.convert(rows)))
    copy = exp.Copy(
        this=generated.subquery(),
        kind=False,
        files=[exp.convert(str(path))],
        params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet"))],
    )
    duckdb.connect().execute(copy.sql("duckdb"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out_dir = load_settings().data_dir / "bench"
    work = out_dir / "gx-fallback-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    batch = work / "batch.parquet"
    _batch(batch, args.rows)
    compiled, fallback = [], []
    for _ in range(args.repeats):
        compiled.append(_child(EVALUATE, str(batch), *COMPILED))
        fallback.append(_child(EVALUATE, str(batch), *FALLBACK))
    shutil.rmtree(work)
    compiled_s = statistics.median(r[0] for r in compiled)
    fallback_s = statistics.median(r[0] for r in fallback)
    compiled_rss = statistics.median(r[2] for r in compiled)
    fallback_rss = statistics.median(r[2] for r in fallback)
    report = {
        "benchmark": "gx_fallback",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "rows": args.rows,
        "compiled": COMPILED[0],
        "fallback": FALLBACK[0],
        "compiled_seconds": round(compiled_s, 3),
        "fallback_seconds": round(fallback_s, 3),
        "time_ratio": round(fallback_s / compiled_s, 1),
        "compiled_peak_rss_mib": round(compiled_rss, 1),
        "fallback_peak_rss_mib": round(fallback_rss, 1),
        "rss_ratio": round(fallback_rss / compiled_rss, 1),
        "runs": {
            "compiled": [round(r[0], 3) for r in compiled],
            "fallback": [round(r[0], 3) for r in fallback],
        },
        "targets": {"note": "measured, no target: the fallback's price, for the README"},
    }
    (out_dir / "gx_fallback.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("runs", "machine")}, indent=2))
    print(f"(report: {out_dir / 'gx_fallback.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
