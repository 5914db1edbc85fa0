"""One benchmark report: every `.data/bench/<name>.json` written by `make bench-*`, as markdown and JSON.

For each benchmark: our figure, the baseline measured in the same run, their ratio, the target,
peak RSS where measured and the input size; and the machine (cores, memory). Writes
`.data/bench/report.md` and `.data/bench/report.json`.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster_project.settings import load_settings

Row = dict[str, Any]


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        return None
    return None


def _ingest(d: dict) -> list[Row]:
    return [
        {
            "benchmark": f"ingest {r['rows']:,} rows",
            "ours": f"{r['ours_seconds']} s",
            "baseline": f"DuckDB COPY {r['duckdb_copy_seconds']} s",
            "ratio": f"{r['throughput_ratio']}× throughput",
            "target": d["targets"]["throughput_ratio"],
            "peak_rss_mib": r.get("ours_peak_rss_mib"),
            "input": f"{r['rows']:,} rows, {r['bytes'] / 2**20:,.0f} MiB CSV",
        }
        for r in d["rounds"]
    ] + [
        {
            "benchmark": f"ingest {r['rows']:,} rows vs dlt",
            "ours": f"{r['ours_seconds']} s, {r['ours_peak_rss_mib']} MiB",
            "baseline": f"dlt {r['dlt_seconds']} s, {r['dlt_peak_rss_mib']} MiB",
            "ratio": f"{r['ours_vs_dlt_throughput']}× throughput, {r['ours_vs_dlt_rss']}× RSS",
            "target": f"{d['targets']['ours_vs_dlt_throughput']} throughput, "
            f"{d['targets']['ours_vs_dlt_rss']} RSS",
            "peak_rss_mib": r.get("ours_peak_rss_mib"),
            "input": f"{r['rows']:,} rows, {r['bytes'] / 2**20:,.0f} MiB CSV",
        }
        for r in d["rounds"]
        if "dlt_seconds" in r
    ]


def _memory(d: dict) -> list[Row]:
    return [
        {
            "benchmark": f"memory, one {r['format']} file",
            "ours": f"{r['ours_peak_rss_mib']} MiB peak RSS, {r['ours_seconds']} s",
            "baseline": f"DuckDB alone {r['duckdb_peak_rss_mib']} MiB" if "duckdb_peak_rss_mib" in r else "",
            "ratio": f"{r['rss_ratio']}× RSS" if "rss_ratio" in r else "",
            "target": "<= 1024 MiB",
            "peak_rss_mib": r["ours_peak_rss_mib"],
            "input": f"{r['bytes'] / 2**30:.2f} GiB" + (f", {r['rows']:,} rows" if "rows" in r else ""),
        }
        for r in d["rounds"]
    ]


def _gates(d: dict) -> list[Row]:
    return [
        {
            "benchmark": "quality gate",
            "ours": f"validation {d['validation_seconds']} s",
            "baseline": f"ingest {d['ingest_seconds']} s",
            "ratio": f"{d['validation_to_ingest_ratio']}",
            "target": d["targets"]["validation_to_ingest_ratio"],
            "peak_rss_mib": d.get("validation_peak_rss_mib"),
            "input": f"{d['rows']:,} rows, {d['expectations']} expectations",
        }
    ]


def _gx_fallback(d: dict) -> list[Row]:
    return [
        {
            "benchmark": "expectation through GX's engine",
            "ours": f"{d['fallback']} {d['fallback_seconds']} s, {d['fallback_peak_rss_mib']} MiB",
            "baseline": f"{d['compiled']} {d['compiled_seconds']} s, {d['compiled_peak_rss_mib']} MiB",
            "ratio": f"{d['time_ratio']}× time, {d['rss_ratio']}× RSS",
            "target": "measured",
            "peak_rss_mib": d.get("fallback_peak_rss_mib"),
            "input": f"{d['rows']:,} rows",
        }
    ]


def _incremental(d: dict) -> list[Row]:
    return [
        {
            "benchmark": "incremental staging + curated",
            "ours": f"batch {d['batches']}: {d['last_batch_seconds']} s",
            "baseline": f"batch 1: {d['first_batch_seconds']} s",
            "ratio": f"{d['ratio_last_to_first']}",
            "target": "<= 2",
            "peak_rss_mib": d.get("peak_rss_mib"),
            "input": f"{d['batches']} batches × {d['rows_per_batch']:,} orders",
        }
    ]


def _latency(d: dict) -> list[Row]:
    phases = ", ".join(f"{k} {v}" for k, v in d.get("phase_medians_seconds", {}).items())
    return [
        {
            "benchmark": "drop → curated latency (dagster dev)",
            "ours": (
                f"median {d['drop_to_curated_seconds_median']} s, max {d['drop_to_curated_seconds_max']} s"
                + (f" (medians: {phases})" if phases else "")
            ),
            "baseline": f"target {d['target_seconds']} s",
            "ratio": f"{round(d['drop_to_curated_seconds_median'] / d['target_seconds'], 2)} of target",
            "target": f"median <= {d['target_seconds']} s",
            "peak_rss_mib": None,
            "input": f"{len(d['drops'])} drops of 10 orders",
        }
    ]


def _retrieval(d: dict) -> list[Row]:
    r, e, n = d["retrieval"], d["embedding_throughput"], d["near_duplicates"]
    vector = r.get("modes", {}).get("vector")
    return [
        {
            "benchmark": "retrieval recall@5 (hybrid)",
            "ours": f"{r['recall_at_5']} (MRR {r['mrr']})",
            "baseline": f"vector only {vector['recall_at_5']} (MRR {vector['mrr']})" if vector else "",
            "ratio": "",
            "target": ">= 0.95",
            "pass": r["recall_at_5"] >= 0.95,
            "peak_rss_mib": None,
            "input": f"{r['questions']} questions, {r['chunks']} chunks, {r['indexed_documents']} documents",
        },
        {
            "benchmark": "retrieval recall@1 (hybrid)",
            "ours": str(r.get("recall_at_1", "")),
            "baseline": f"vector only {vector['recall_at_1']}" if vector else "",
            "ratio": "",
            "target": ">= 0.85",
            "pass": r.get("recall_at_1", 0) >= 0.85,
            "peak_rss_mib": None,
            "input": f"{r['questions']} questions, {r['chunks']} chunks, {r['indexed_documents']} documents",
        },
        {
            "benchmark": "embedding throughput",
            "ours": f"{e['ours_chunks_per_s']} chunks/s",
            "baseline": f"sentence-transformers direct {e['direct_chunks_per_s']} chunks/s",
            "ratio": f"{e['ratio']}",
            "target": ">= 0.8",
            "pass": e["ratio"] >= 0.8,
            "peak_rss_mib": None,
            "input": f"{e['texts']:,} chunk texts, all-MiniLM-L6-v2 on CPU",
        },
        {
            "benchmark": "near-duplicate detection",
            "ours": f"precision {n['precision']}, recall {n['recall']}",
            "baseline": "",
            "ratio": "",
            "target": f"threshold {n['threshold']}",
            "pass": None,
            "peak_rss_mib": None,
            "input": f"{n['documents']} documents (edited copies at {n['edit_rates']})",
        },
    ]


def _governance(d: dict) -> list[Row]:
    q, m = d["query"], d["maintenance"]
    return [
        {
            "benchmark": "governed query (analyst persona)",
            "ours": f"{q['governed_seconds']} s "
            f"({q['governed_without_audit_seconds']} s before the audit row)",
            "baseline": f"DuckDB over the same Iceberg columns {q['direct_seconds']} s",
            "ratio": f"{q['overhead_ratio']}",
            "target": "<= 1.5",
            "pass": q["overhead_ratio"] <= 1.5,
            "peak_rss_mib": None,
            "input": f"{q['rows']:,} rows, group-by aggregate",
        },
        {
            "benchmark": "table maintenance (compact, expire, orphans)",
            "ours": f"full scan {m['scan_seconds_after']} s, {m['data_files_after']} file(s), "
            f"{m['snapshots_after']} snapshot(s)",
            "baseline": f"before: {m['scan_seconds_before']} s, {m['data_files_before']} files, "
            f"{m['snapshots_before']} snapshots",
            "ratio": f"{m['scan_ratio']}",
            "target": "< 1, no row lost",
            "pass": m["scan_ratio"] < 1,
            "peak_rss_mib": None,
            "input": f"{m['rows']:,} rows in {m['commits'] + 1} commits",
        },
    ]


def _generic(name: str, d: dict) -> list[Row]:
    """Benchmarks that describe their own rows (`report_rows`), else their top-level figures."""
    if "report_rows" in d:
        return list(d["report_rows"])
    figures = {k: v for k, v in d.items() if isinstance(v, int | float | str | bool) and k != "benchmark"}
    return [
        {
            "benchmark": name,
            "ours": json.dumps(figures)[:200],
            "baseline": "",
            "ratio": "",
            "target": json.dumps(d.get("targets", "")),
            "peak_rss_mib": d.get("peak_rss_mib"),
            "input": "",
        }
    ]


READERS: dict[str, Callable[[dict], list[Row]]] = {
    "ingest": _ingest,
    "memory": _memory,
    "gates": _gates,
    "gx_fallback": _gx_fallback,
    "incremental": _incremental,
    "latency": _latency,
    "retrieval": _retrieval,
    "governance": _governance,
}


def build_report(bench_dir: Path) -> dict[str, Any]:
    rows: list[Row] = []
    sources = {}
    for path in sorted(bench_dir.glob("*.json")):
        if path.name == "report.json":
            continue
        data = json.loads(path.read_text())
        name = path.stem
        reader = READERS.get(name)
        for row in reader(data) if reader else _generic(name, data):
            row.setdefault("pass", data.get("pass", data.get("meets_target")))
            rows.append(row)
        sources[name] = {
            "file": path.name,
            "written": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(),
        }
    return {
        "machine": {"cores": os.cpu_count(), "memory_gib": _memory_gib(), "platform": platform.platform()},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmarks": rows,
        "sources": sources,
    }


def to_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB memory, {m['platform']}. "
        f"Generated {report['generated_at']} from `.data/bench/*.json` "
        "(each baseline measured in the same run).",
        "",
        "| benchmark | ours | baseline (same run) | ratio | target | pass | peak RSS MiB | input |",
        "|---|---|---|---|---|---|---:|---|",
    ]
    for r in report["benchmarks"]:
        rss = "" if r.get("peak_rss_mib") is None else f"{r['peak_rss_mib']:,.0f}"
        verdict = {True: "yes", False: "NO", None: ""}[r.get("pass")]
        lines.append(
            f"| {r['benchmark']} | {r['ours']} | {r['baseline']} | {r['ratio']} | {r['target']} | {verdict} "
            f"| {rss} | {r['input']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    bench_dir = load_settings().data_dir / "bench"
    report = build_report(bench_dir)
    if not report["benchmarks"]:
        raise SystemExit(f"no benchmark results in {bench_dir}: run `make bench`")
    (bench_dir / "report.json").write_text(json.dumps(report, indent=2))
    markdown = to_markdown(report)
    (bench_dir / "report.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
