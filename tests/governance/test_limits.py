"""Governed queries stop at their time and memory limits: one line naming the setting, an audit row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest

from dagster_project.cli import main
from dagster_project.governance.query import QueryLimitExceeded, run_query
from dagster_project.governance.sandbox import LimitSettingError, parse_size

ENDLESS = "select count(*) from generate_series(1, 1000000000000)"
HUGE = "select length(repeat('x', 4000000000))"  # one 4 GB string: outside DuckDB's memory_limit


def test_a_runaway_query_stops_at_the_time_limit_and_is_audited(lake):
    settings = replace(lake.settings, query_timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(QueryLimitExceeded) as caught:
        run_query(settings, "data_engineer", ENDLESS)
    # Stopped by the limit, not run to the end (that would take hours); generous for a busy machine.
    assert time.monotonic() - started < 30
    assert caught.value.limit == "time"
    assert "time limit of 2 s (FOUNDATION_QUERY_TIMEOUT_SECONDS)" in str(caught.value)
    (event,) = lake.audit(ENDLESS)
    assert (event["action"], event["outcome"]) == ("query_failed", "limit")
    assert "FOUNDATION_QUERY_TIMEOUT_SECONDS" in event["message"]
    # The next query runs normally.
    assert run_query(settings, "data_engineer", "select count(*) n from raw.people").rows.to_pylist() == [
        {"n": 3}
    ]


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from dagster_project.governance.query import QueryLimitExceeded, run_query
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(Path(sys.argv[1]), query_memory_limit="256MB")
    before = resource.getrlimit(resource.RLIMIT_DATA)
    outcome = {}
    try:
        run_query(settings, "data_engineer", sys.argv[2])
    except QueryLimitExceeded as exc:
        outcome = {"limit": exc.limit, "message": str(exc)}
    after = run_query(settings, "data_engineer", "select count(*) n from raw.people").rows.to_pylist()
    print(json.dumps({
        **outcome,
        "after": after,
        "rlimit_restored": resource.getrlimit(resource.RLIMIT_DATA) == before,
        # VmHWM is this program's own peak: ru_maxrss after fork and exec starts at the parent's
        # (the kernel keeps the larger), and the test process may well be over 1.5 GiB itself.
        "peak_rss_bytes": next(
            int(line.split()[1]) * 1024
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        ),
    }))
    """
)


@pytest.mark.slow  # a child process allocates up to the memory limit
@pytest.mark.skipif(sys.platform != "linux", reason="the memory ceiling is RLIMIT_DATA, enforced on Linux")
def test_a_huge_allocation_stops_at_the_memory_limit_and_the_process_stays_small(lake):
    # In its own process, so that its peak resident memory is the query's alone.
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(lake.settings.data_dir), HUGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["limit"] == "memory", report
    assert "memory limit of 256MB (FOUNDATION_QUERY_MEMORY_LIMIT)" in report["message"]
    # Python, pyarrow, pyiceberg and DuckDB take ~250 MB before the query (more on a busy machine,
    # where allocator arenas grow); the 4 GB the query asks for would show well above 1.5 GiB.
    assert report["peak_rss_bytes"] < 1536 * 2**20, report
    assert report["after"] == [{"n": 3}] and report["rlimit_restored"]
    (event,) = lake.audit(HUGE)
    assert (event["action"], event["outcome"]) == ("query_failed", "limit")


def test_the_cli_prints_a_limit_as_one_line_and_exits_2(lake, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    monkeypatch.setenv("FOUNDATION_QUERY_TIMEOUT_SECONDS", "1")
    assert main(["query", "--as", "data_engineer", ENDLESS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the query was stopped at its time limit of 1 s") and err.count("\n") == 1


def test_a_memory_limit_that_is_not_a_size_is_refused_before_anything_runs(lake, monkeypatch, capsys):
    assert parse_size("2GB") == 2 * 10**9 and parse_size("512MiB") == 512 * 2**20
    with pytest.raises(LimitSettingError, match="FOUNDATION_QUERY_MEMORY_LIMIT='lots' is not a size"):
        parse_size("lots")
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    monkeypatch.setenv("FOUNDATION_QUERY_MEMORY_LIMIT", "lots")
    assert main(["query", "--as", "data_engineer", "select 1"]) == 2
    assert "FOUNDATION_QUERY_MEMORY_LIMIT='lots' is not a memory size" in capsys.readouterr().err
    # The settings are refused when they load, before any query (or its audit row) exists.
    assert lake.audit("select 1") == []


def test_nothing_spills_into_the_working_directory(lake, tmp_path, monkeypatch):
    # An in-memory DuckDB spills to ./.tmp by default; a governed query must not write anywhere.
    monkeypatch.chdir(tmp_path)
    settings = replace(lake.settings, query_memory_limit="64MB")
    sql = "select i, md5(i::varchar) h from generate_series(1, 3000000) t(i) order by h"
    with pytest.raises(QueryLimitExceeded):
        run_query(settings, "data_engineer", sql)
    assert not any(p.name == ".tmp" for p in tmp_path.iterdir()), os.listdir(tmp_path)


def test_time_spent_loading_tables_counts_and_a_late_interrupt_is_not_lost():
    import pyarrow as pa

    from dagster_project.governance.sandbox import QueryLimits, TableView, run_governed

    limits = QueryLimits(timeout_seconds=1)
    loaded = []

    def fetch() -> pa.Table:  # an Iceberg scan DuckDB cannot interrupt
        loaded.append(True)
        return pa.table({"id": [1, 2]})

    view = TableView("raw", "people", fetch, '"id"')
    past = time.monotonic() - 5  # the deadline went by while the statement was checked and loaded
    with pytest.raises(QueryLimitExceeded, match="time limit"):
        run_governed([view], ENDLESS, limits, None, past)
    assert loaded == [True]
    # With no table to load, the deadline has passed before DuckDB starts the statement: the
    # interrupt is repeated until it lands, so the endless statement still stops.
    with pytest.raises(QueryLimitExceeded, match="time limit"):
        run_governed([], ENDLESS, limits, None, past)
