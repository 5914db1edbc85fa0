"""Scale-out benchmark: the heavy steps in the run's process against a local Ray cluster of 1 and 2 workers.

Two workloads, through the public entry points a run calls, so the figures follow whatever path the
code takes when `FOUNDATION_RAY_ADDRESS` is set:

1. A backlog of `--files` orders CSVs (`--rows-per-file` rows each) ingested by one
   `ingest_dataset` call (one Iceberg commit): rows/s.
2. A document sync (`sync_documents`, real MiniLM) of `--documents` generated guides: chunks
   embedded per second. The documents are landed and extracted into raw.documents before the timer.

Each workload runs in-process (no address: the baseline, measured in the same run) and against
`tests/servers/ray_cluster.py`'s `LocalRayCluster` with 1 and 2 worker nodes (`--workers`) of
`--cpus-per-worker` CPUs each, head without CPUs. Every round uses a fresh data directory and, on a
cluster, a fresh connection, as each Dagster run is a new driver (its task workers start cold):
"connect + first task" is that per-run overhead, timed on its own (`connected()` and one trivial
task); the cluster's start is reported apart and excluded. The medians of `--repeats` rounds count.
Every workload runs at two sizes, the default and `--scale` times its files and documents: the line
through the two medians splits a run's time into a fixed cost per run (seconds, the intercept: cold
task workers, the actors' model loads, planning) and a marginal throughput (items per second of the
difference), so the cluster path's overhead is stated as seconds per run, apart from its rate.
Where the work ran is measured, not assumed: the CPU seconds of the worker nodes' processes (their
task workers included) beside the driver's. On one machine the nodes share its cores, so this
measures the cluster path's overhead and its scheduling, not extra hardware. Clusters are stopped
by their own process groups (never `ray stop`). Writes `.data/bench/scale.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers: the local Ray cluster
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_doc_sync: its generated guides

from bench_doc_sync import guide  # noqa: E402

from dagster_project.cluster import connected  # noqa: E402
from dagster_project.documents.config import load_documents_config  # noqa: E402
from dagster_project.documents.embed import Embedder, load_embedder  # noqa: E402
from dagster_project.documents.gate import chunk_suite  # noqa: E402
from dagster_project.documents.ingest import ingest_documents  # noqa: E402
from dagster_project.documents.sync import sync_documents  # noqa: E402
from dagster_project.ingest.run import ingest_dataset  # noqa: E402
from dagster_project.lakehouse.tables import open_catalog  # noqa: E402
from dagster_project.registry import load_registry  # noqa: E402
from dagster_project.settings import Settings, load_settings  # noqa: E402
from tests.servers.ray_cluster import LocalRayCluster  # noqa: E402

HEADER = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"
IN_PROCESS = "in-process"


def rate(per_second: float | None) -> str:
    if per_second is None:  # the two sizes gave no line (see `fit`)
        return "n/a"
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:,.1f}"


def write_backlog(landing: Path, files: int, rows: int) -> None:
    """`files` orders CSVs of `rows` rows each, all different, under the dataset's prefix."""
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    for f in range(files):
        first = f * rows
        lines = [HEADER] + [
            f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},{i % 997}.50,EUR,placed,2026-11-01 10:{i % 60:02d}:00"
            for i in range(first, first + rows)
        ]
        (landing / "orders" / f"backlog-{f:03d}.csv").write_text("\n".join(lines) + "\n")


def land_guides(settings: Settings, documents: int) -> None:
    """Generated guides in the landing zone, extracted into raw.documents (before any timer)."""
    landing = Path(settings.landing_uri.removeprefix("file://")) / "documents" / "guides"
    landing.mkdir(parents=True, exist_ok=True)
    for n in range(documents):
        (landing / f"guide-{n:03d}.md").write_text(guide(n), encoding="utf-8")
    ingest_documents(settings, load_documents_config(settings.documents_file), run_id="bench-land")


class CpuMeter:
    """CPU seconds of this process (the driver) and of the cluster's worker nodes' sessions."""

    def __init__(self, cluster: LocalRayCluster | None) -> None:
        self.sessions = {node.process.pid for node in cluster.workers} if cluster else set()

    def _workers(self) -> dict[int, float]:
        # A node's task workers have process groups of their own but stay in the session of its
        # `ray start` (started with a new session). /proc (Linux): psutil is not a dependency.
        # Fields after the command's ")": state, ppid, pgrp, session, ... utime, stime (clock ticks).
        seconds = {}
        tick = os.sysconf("SC_CLK_TCK")
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # the process has exited meanwhile
                continue
            if int(fields[3]) in self.sessions:
                seconds[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
        return seconds

    def __enter__(self) -> CpuMeter:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._driver, self._before = usage.ru_utime + usage.ru_stime, self._workers()
        return self

    def __exit__(self, *exc: object) -> None:
        # Read before the connection closes: a job's task workers exit with their driver.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.driver = usage.ru_utime + usage.ru_stime - self._driver
        after = self._workers()
        self.workers = sum(s - self._before.get(pid, 0.0) for pid, s in after.items())


def one_round(
    root: Path, cluster: LocalRayCluster | None, work: Callable[[Settings], int], prepare: Callable
) -> dict:
    """Prepare a fresh data dir, connect (on a cluster), then time `work`; it returns its item count."""
    import ray

    data_dir = Path(tempfile.mkdtemp(dir=root))
    settings = Settings.for_data_dir(
        data_dir,
        sensor_min_file_age_seconds=0,
        ray_address=cluster.address if cluster else None,
    )
    prepare(settings)
    result: dict = {}
    if cluster:
        ray.shutdown()  # each run is a new driver: a new Ray job, its task workers started cold
        started = time.perf_counter()
        with connected(settings):
            ray.get(ray.remote(lambda: None).remote())
        result["connect_seconds"] = round(time.perf_counter() - started, 3)
    with CpuMeter(cluster) as cpu:
        started = time.perf_counter()
        items = work(settings)
        seconds = time.perf_counter() - started
    shutil.rmtree(data_dir, ignore_errors=True)  # the large backlog is 100s of MB a round
    result |= {
        "seconds": round(seconds, 3),
        "items": items,
        "driver_cpu_seconds": round(cpu.driver, 2),
        "workers_cpu_seconds": round(cpu.workers, 2),
    }
    return result


def workloads(args: argparse.Namespace, model: Embedder, root: Path) -> dict[str, tuple[Callable, Callable]]:
    """name → (prepare, work): work returns rows (backlog) or chunks embedded (documents)."""

    def prepare_backlog(settings: Settings) -> None:
        # Generated once per size and copied into each round's landing zone: generating 4,000,000 rows
        # takes longer than ingesting them, and would stretch the bench, not the figures.
        template = root / f"backlog-{args.files}x{args.rows_per_file}"
        if not template.exists():
            write_backlog(template, args.files, args.rows_per_file)
        landing = Path(settings.landing_uri.removeprefix("file://"))
        shutil.copytree(template / "orders", landing / "orders", dirs_exist_ok=True)

    def backlog(settings: Settings) -> int:
        dataset = load_registry(settings.sources_file)["orders"]
        report = ingest_dataset(settings, dataset, run_id="bench-scale")
        assert len(report.ingested) == args.files, (report.ingested, report.skipped, report.quarantined)
        rows = open_catalog(settings).load_table(dataset.table).scan(selected_fields=("order_id",)).count()
        assert rows == args.files * args.rows_per_file, rows  # the same rows on every path
        return rows

    def prepare_documents(settings: Settings) -> None:
        land_guides(settings, args.documents)

    def documents(settings: Settings) -> int:
        config = load_documents_config(settings.documents_file)
        suite = chunk_suite(settings.expectations_dir)
        report = sync_documents(settings, config, model, run_id="bench-scale", suite=suite)
        assert report.chunks_embedded > 0 and report.published, report
        return report.chunks_embedded

    return {"backlog": (prepare_backlog, backlog), "documents": (prepare_documents, documents)}


def summary(rounds: list[dict], cluster: bool) -> dict:
    """The medians of one size's rounds on one path."""
    seconds = statistics.median(r["seconds"] for r in rounds)
    items = rounds[0]["items"]
    assert all(r["items"] == items for r in rounds), rounds
    workers_cpu = statistics.median(r["workers_cpu_seconds"] for r in rounds)
    driver_cpu = statistics.median(r["driver_cpu_seconds"] for r in rounds)
    figures = {
        "items": items,
        "seconds": seconds,
        "per_second": round(items / seconds, 1),
        "driver_cpu_seconds": driver_cpu,
        "workers_cpu_seconds": workers_cpu,
        # Where the work ran: the workers' share of all CPU seconds spent on it.
        "workers_cpu_share": round(workers_cpu / (workers_cpu + driver_cpu), 2)
        if workers_cpu + driver_cpu
        else 0.0,
        "rounds": rounds,
    }
    if cluster:
        figures["connect_seconds"] = round(statistics.median(r["connect_seconds"] for r in rounds), 2)
    return figures


def fit(small: dict, large: dict) -> tuple[float | None, float | None]:
    """(fixed seconds per run, marginal items/s): the line through the two sizes' medians.

    None, None when the larger size did not take longer (the noise exceeds the work added).
    """
    items, seconds = large["items"] - small["items"], large["seconds"] - small["seconds"]
    if items <= 0 or seconds <= 0:
        return None, None
    marginal = items / seconds
    return round(small["seconds"] - small["items"] / marginal, 2), round(marginal, 1)


def measure(args: argparse.Namespace, root: Path, label: str, cluster: LocalRayCluster | None, model) -> dict:
    """Every workload at both sizes, `--repeats` times each (the sizes alternate), on one path; medians."""
    large_args = argparse.Namespace(
        **{**vars(args), "files": args.files * args.scale, "documents": args.documents * args.scale}
    )
    sizes = {"small": workloads(args, model, root), "large": workloads(large_args, model, root)}
    figures: dict = {}
    for name in sizes["small"]:
        rounds: dict[str, list[dict]] = {"small": [], "large": []}
        for _ in range(args.repeats):
            for size, work in sizes.items():
                prepare, run = work[name]
                r = one_round(root, cluster, run, prepare)
                print(json.dumps({"path": label, "workload": name, "size": size, **r}), file=sys.stderr)
                rounds[size].append(r)
        small, large = summary(rounds["small"], bool(cluster)), summary(rounds["large"], bool(cluster))
        fixed, marginal = fit(small, large)
        figures[name] = {**small, "large": large, "fixed_seconds": fixed, "marginal_per_second": marginal}
    return figures


def compare(paths: dict[str, dict]) -> None:
    """Ratios against the in-process baseline of the same run, and the cluster path's overhead per run:
    connect + first task, plus its fixed cost beyond the in-process path's."""
    base = paths[IN_PROCESS]["workloads"]
    for figures in paths.values():
        for name, w in figures["workloads"].items():
            b = base[name]
            w["ratio"] = round(w["per_second"] / b["per_second"], 2)
            w["large"]["ratio"] = round(w["large"]["per_second"] / b["large"]["per_second"], 2)
            both = w["marginal_per_second"] and b["marginal_per_second"]
            w["marginal_ratio"] = (
                round(w["marginal_per_second"] / b["marginal_per_second"], 2) if both else None
            )
            fixed = w["fixed_seconds"] is not None and b["fixed_seconds"] is not None
            extra = round(w["fixed_seconds"] - b["fixed_seconds"], 2) if fixed else None
            w["overhead_seconds_per_run"] = (
                round(w.get("connect_seconds", 0.0) + extra, 2) if extra is not None else None
            )


def show(value: float | None, unit: str = "") -> str:
    """A figure for the table, or "n/a" where the two sizes gave no line."""
    return "n/a" if value is None else f"{value}{unit}"


def report_row(name: str, label: str, w: dict, b: dict, unit: str, input_: str) -> dict:
    """The row `benchmarks/report.py` shows for one workload on one cluster path."""
    return {
        "benchmark": f"scale: {name} ({label})",
        "ours": f"{rate(w['per_second'])} / {rate(w['large']['per_second'])} {unit}; fixed "
        f"{show(w['fixed_seconds'], ' s')} a run, marginal {rate(w['marginal_per_second'])} {unit}; "
        f"connect + first task {w['connect_seconds']} s",
        "baseline": f"in-process {rate(b['per_second'])} / {rate(b['large']['per_second'])} {unit}; fixed "
        f"{show(b['fixed_seconds'], ' s')}, marginal {rate(b['marginal_per_second'])} {unit}",
        "ratio": f"{w['ratio']}× / {w['large']['ratio']}×, marginal {show(w['marginal_ratio'], '×')}; "
        f"cluster overhead {show(w['overhead_seconds_per_run'], ' s')} a run; "
        f"workers' CPU share {w['workers_cpu_share']}",
        "target": "",
        "peak_rss_mib": None,
        "input": input_,
    }


def print_tables(paths: dict[str, dict], inputs: dict[str, tuple[str, str]], units: dict[str, str]) -> None:
    """One markdown table a workload, as the README shows them."""
    for name, unit in units.items():
        small, large = inputs[name]
        print(f"\n{name}: {small} / {large}\n")
        print(
            f"| path | cluster start s | connect + first task s | {unit}, {small} | × | {unit}, {large} | × "
            f"| fixed s a run | marginal {unit} | × | cluster overhead s a run | workers' CPU share |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, p in paths.items():
            w = p["workloads"][name]
            cluster = "workers" in p
            print(
                f"| {label} | {p.get('cluster_start_seconds', '')} | {w.get('connect_seconds', '')} "
                f"| {rate(w['per_second'])} | {w['ratio']} | {rate(w['large']['per_second'])} "
                f"| {w['large']['ratio']} | {show(w['fixed_seconds'])} | {rate(w['marginal_per_second'])} "
                f"| {show(w['marginal_ratio'])} | {show(w['overhead_seconds_per_run']) if cluster else ''} "
                f"| {w['workers_cpu_share']} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="files in the backlog")
    parser.add_argument("--rows-per-file", type=int, default=25_000)
    parser.add_argument("--documents", type=int, default=40, help="generated guides (about 7 chunks each)")
    parser.add_argument(
        "--scale", type=int, default=4, help="the second size: this many times the files and the documents"
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker-node counts of the clusters, comma-separated"
    )
    parser.add_argument("--cpus-per-worker", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.scale < 2:
        parser.error("--scale must be at least 2: the fixed cost needs two sizes")
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    load = os.getloadavg()
    started_bench = time.perf_counter()
    model = load_embedder("minilm")
    model.embed(["warm up"])  # the driver's model load is not the sync's cost (workers load theirs)
    paths: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        # Imports and first table creations, in neither figure.
        warm = argparse.Namespace(**{**vars(args), "files": 2, "rows_per_file": 10, "documents": 2})
        for prepare, work in workloads(warm, model, root).values():
            one_round(root, None, work, prepare)
        paths[IN_PROCESS] = {"workloads": measure(args, root, IN_PROCESS, None, model)}
        for workers in worker_counts:
            label = f"Ray, {workers} worker node{'s' if workers > 1 else ''}"
            started = time.perf_counter()
            cluster = LocalRayCluster(workers=workers, cpus_per_worker=args.cpus_per_worker)
            start_seconds = round(time.perf_counter() - started, 1)
            try:
                paths[label] = {
                    "workers": workers,
                    "cluster_start_seconds": start_seconds,
                    "workloads": measure(args, root, label, cluster, model),
                }
            finally:
                import ray

                ray.shutdown()
                cluster.stop()
    compare(paths)
    base = paths[IN_PROCESS]["workloads"]
    used_cluster = any(
        w["workers_cpu_share"] >= 0.5
        for label, p in paths.items()
        if label != IN_PROCESS
        for w in p["workloads"].values()
    )
    large_files, large_documents = args.files * args.scale, args.documents * args.scale
    inputs = {
        "backlog": (f"{args.files} files", f"{large_files} files"),
        "documents": (f"{args.documents} guides", f"{large_documents} guides"),
    }
    described = {
        "backlog": f"{args.files} and {large_files} CSV files x {args.rows_per_file:,} rows",
        "documents": f"{args.documents} and {large_documents} guides, {model.name}",
    }
    units = {"backlog": "rows/s", "documents": "chunks/s"}
    report = {
        "benchmark": "scale",
        "files": args.files,
        "rows_per_file": args.rows_per_file,
        "documents": args.documents,
        "scale": args.scale,
        "cpus_per_worker": args.cpus_per_worker,
        "repeats": args.repeats,
        "paths": paths,
        # False: the code measured ran every workload in the driver on every path (the figures then
        # measure the in-process path twice, plus the connection).
        "cluster_path_used": used_cluster,
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "bench_seconds": round(time.perf_counter() - started_bench, 1),
        "cpus": os.cpu_count(),
        "pass": True,  # no target: the issue asks for the figures and the overhead, stated
        "report_rows": [
            report_row(name, label, w, base[name], units[name], described[name])
            for label, p in paths.items()
            if label != IN_PROCESS
            for name, w in p["workloads"].items()
        ],
    }
    out = load_settings().data_dir / "bench" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_tables(paths, inputs, units)
    print(
        f"\nload average at start {report['load_average_at_start']}, at end {report['load_average_at_end']}, "
        f"{os.cpu_count()} cores, {report['bench_seconds']} s in all; wrote {out}"
    )
    if not used_cluster:
        print("note: no workload ran on the cluster's workers: these figures measure the in-process path")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
