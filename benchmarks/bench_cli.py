"""Quick-commands benchmark: cold `foundation status`, `foundation search` and `foundation --help`.

Each command runs in `--runs` fresh processes (median wall and CPU seconds), alternating with
the machine's own baselines in the same run: `python -c pass` (the interpreter's start) and
`python -c "import dagster"` (what a command costs that imports the orchestrator). The data
directory is built here: the sample landing data ingested into raw tables (a quarantined file,
rows dropped by expectations and a held-back batch included, so that status reads
`ops.quarantine`), and the sample knowledge base through the document assets (real MiniLM), so
that search answers from an index. Writes `.data/bench/cli.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import QUESTION, _knowledge_base, _timed_process  # noqa: E402

from dagster_project.settings import Settings, load_settings  # noqa: E402

STATUS_TARGET_S = 1.5
SEARCH_TARGET_S = 2.5


def _raw_tables(settings: Settings) -> None:
    """The sample landing data ingested into raw tables, in this process (no Dagster run)."""
    from dagster_project.defs.raw.assets import table_columns
    from dagster_project.demo.commands import sync_sample_data
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.quality.suites import load_suite
    from dagster_project.registry import load_registry

    landed = sorted(sync_sample_data(settings, seed=42, scale=1.0))
    for dataset in load_registry(settings.sources_file):
        suite = load_suite(dataset.table, table_columns(dataset), settings.expectations_dir)
        # One commit per file, as the landing sensor's runs: the bad batch alone is held back.
        for i, key in enumerate(k for k in landed if k.startswith(dataset.prefix)):
            ingest_dataset(settings, dataset, run_id=f"bench-cli-{dataset.name}-{i}", keys=[key], suite=suite)


def measure(settings: Settings, runs: int) -> dict:
    """Median wall and CPU seconds of each command and baseline, over `runs` alternating rounds."""
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(settings.data_dir)}
    env.pop("DAGSTER_HOME", None)
    foundation = str(Path(sys.executable).parent / "foundation")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import dagster"': [sys.executable, "-c", "import dagster"],
        "foundation --help": [foundation, "--help"],
        "foundation status": [foundation, "status"],
        "foundation search --as analyst": [foundation, "search", "--as", "analyst", QUESTION, "-k", "5"],
    }
    for command in commands.values():  # warms the disk cache and the index's first reads
        _timed_process(command, env)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    loads = []
    for _ in range(runs):  # alternating, so that every command shares the machine's load
        for name, command in commands.items():
            timings[name].append(_timed_process(command, env))
        loads.append(os.getloadavg()[0])
    return {
        name: {
            "wall_median_s": round(statistics.median(t for t, _ in ts), 2),
            "cpu_median_s": round(statistics.median(c for _, c in ts), 2),
            "wall_s": [round(t, 2) for t, _ in ts],
        }
        for name, ts in timings.items()
    } | {"load_average_1min": round(statistics.median(loads), 2), "runs": runs}


def _row(result: dict, name: str, target: float | None) -> dict:
    ours, start, dagster = result[name], result["python -c pass"], result['python -c "import dagster"']
    return {
        "benchmark": f"cold `{name}` (fresh process, median)",
        "ours": f"{ours['wall_median_s']} s ({ours['cpu_median_s']} s CPU)",
        "baseline": f"`python -c pass` {start['wall_median_s']} s; "
        f"`import dagster` {dagster['wall_median_s']} s ({dagster['cpu_median_s']} s CPU)",
        "ratio": f"{round(ours['wall_median_s'] / max(dagster['wall_median_s'], 0.01), 2)}× import dagster",
        "target": f"<= {target} s" if target else "measured",
        "pass": ours["wall_median_s"] <= target if target else None,
        "peak_rss_mib": None,
        "input": f"sample data (raw tables, knowledge base), {result['runs']} runs each, "
        f"load average {result['load_average_1min']}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command (median)")
    args = parser.parse_args(argv)
    out = load_settings().data_dir / "bench" / "cli.json"
    with tempfile.TemporaryDirectory() as tmp:
        settings = _knowledge_base(Path(tmp) / "data")
        _raw_tables(settings)
        result = measure(settings, args.runs)
    status, search = result["foundation status"], result["foundation search --as analyst"]
    met = status["wall_median_s"] <= STATUS_TARGET_S and search["wall_median_s"] <= SEARCH_TARGET_S
    report = {
        "benchmark": "cli",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "commands": result,
        "targets": {
            "status_median_s": f"<= {STATUS_TARGET_S}",
            "search_median_s": f"<= {SEARCH_TARGET_S}",
        },
        "pass": met,
        "report_rows": [
            _row(result, "foundation status", STATUS_TARGET_S),
            _row(result, "foundation search --as analyst", SEARCH_TARGET_S),
            _row(result, "foundation --help", None),
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
