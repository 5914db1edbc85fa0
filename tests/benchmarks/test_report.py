"""`make bench` ends with one report: every benchmark's figure beside its same-run baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from report import build_report, to_markdown  # noqa: E402


def test_the_report_puts_each_figure_beside_its_baseline_with_the_machine(tmp_path):
    (tmp_path / "gates.json").write_text(
        json.dumps(
            {
                "validation_seconds": 0.7,
                "ingest_seconds": 1.9,
                "validation_to_ingest_ratio": 0.37,
                "targets": {"validation_to_ingest_ratio": "<= 0.5"},
                "validation_peak_rss_mib": 446.2,
                "rows": 5_000_000,
                "expectations": 14,
                "pass": True,
            }
        )
    )
    (tmp_path / "incremental.json").write_text(
        json.dumps(
            {
                "batches": 51,
                "rows_per_batch": 2000,
                "first_batch_seconds": 8.1,
                "last_batch_seconds": 20.0,
                "ratio_last_to_first": 2.47,
                "peak_rss_mib": 755.0,
                "pass": False,
            }
        )
    )
    report = build_report(tmp_path)
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] > 0
    rows = {r["benchmark"]: r for r in report["benchmarks"]}
    assert rows["quality gate"]["baseline"] == "ingest 1.9 s" and rows["quality gate"]["pass"] is True
    assert rows["incremental staging + curated"]["pass"] is False
    markdown = to_markdown(report)
    assert (
        "| incremental staging + curated | batch 51: 20.0 s | batch 1: 8.1 s | 2.47 | <= 2 | NO | 755 |"
        in markdown
    )
    assert "cores" in markdown and "GiB memory" in markdown


def test_the_governance_benchmark_runs_small_and_reports_both_rows(tmp_path, monkeypatch):
    from bench_governance import main

    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(tmp_path / "data"))
    main(
        ["--rows", "20000", "--commits", "10", "--repeats", "1"]
    )  # exit 1 if a target is missed at this size
    result = json.loads((tmp_path / "data" / "bench" / "governance.json").read_text())
    maintained = result["maintenance"]
    assert maintained["rows"] == 20000  # the benchmark also compares every event id before and after
    assert maintained["data_files_after"] < maintained["data_files_before"] == 11
    assert maintained["snapshots_after"] < maintained["snapshots_before"]
    rows = {r["benchmark"]: r for r in build_report(tmp_path / "data" / "bench")["benchmarks"]}
    assert rows["governed query (analyst persona)"]["input"] == "20,000 rows, group-by aggregate"
    assert "11 files" in rows["table maintenance (compact, expire, orphans)"]["baseline"]


def test_the_clean_text_benchmark_meets_its_targets_and_reports_one_row(tmp_path, monkeypatch):
    from bench_clean_text import main

    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(tmp_path / "data"))
    assert main() == 0  # navigation in <= 1% of chunks, no content lost
    rows = {r["benchmark"]: r for r in build_report(tmp_path / "data" / "bench")["benchmarks"]}
    row = rows["clean text (HTML docs and help pages)"]
    assert "0 of 336 paragraphs lost" in row["ours"] and "48 pages" in row["input"]


@pytest.mark.slow
def test_the_scale_benchmark_runs_small_on_a_local_cluster_and_reports_each_path(tmp_path, monkeypatch):
    from bench_scale import main

    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(tmp_path / "data"))
    small = ["--files", "2", "--rows-per-file", "100", "--documents", "2", "--scale", "2", "--repeats", "1"]
    assert main([*small, "--workers", "1", "--cpus-per-worker", "1"]) == 0
    scale = json.loads((tmp_path / "data" / "bench" / "scale.json").read_text())
    cluster = scale["paths"]["Ray, 1 worker node"]
    assert cluster["cluster_start_seconds"] > 0
    for name, items in (("backlog", 200), ("documents", None)):
        # The same items on both paths; the cluster's per-run connection is timed apart.
        assert cluster["workloads"][name]["items"] == scale["paths"]["in-process"]["workloads"][name]["items"]
        assert items is None or cluster["workloads"][name]["items"] == items
        assert cluster["workloads"][name]["connect_seconds"] > 0
        # Two sizes (the second twice the files or documents) give the fixed cost and the marginal rate.
        large = cluster["workloads"][name]["large"]
        assert large["items"] == scale["paths"]["in-process"]["workloads"][name]["large"]["items"]
        assert items is None or large["items"] == 2 * items
        assert {"fixed_seconds", "marginal_per_second", "overhead_seconds_per_run"} <= cluster["workloads"][
            name
        ].keys()
    rows = {r["benchmark"] for r in build_report(tmp_path / "data" / "bench")["benchmarks"]}
    assert rows == {"scale: backlog (Ray, 1 worker node)", "scale: documents (Ray, 1 worker node)"}
