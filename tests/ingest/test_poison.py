"""Poison files: no input crashes the process or hangs a run; each gets a specific reason, others land."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import TICKET, land

DEEP_RUN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
    report = ingest_dataset(settings, load_registry(settings.sources_file)["support_tickets"], run_id="deep")
    print(json.dumps({"rows": report.rows, "rejected": [r.message for r in report.rejected_rows],
                      "quarantined": [q.reason for q in report.quarantined]}))
    """
)


@pytest.mark.slow  # a child process parses 40,000 nesting levels
def test_json_nested_40000_levels_deep_is_a_row_set_apart_not_a_segfault(settings, tmp_path):
    depth = 40_000
    deep = json.dumps({**TICKET, "ticket_id": 2})[:-1] + ', "payload": ' + "[" * depth + "]" * depth + "}"
    land(settings, "support_tickets/deep.jsonl", json.dumps(TICKET) + "\n" + deep + "\n")
    land(settings, "support_tickets/other.jsonl", json.dumps({**TICKET, "ticket_id": 3}) + "\n")
    script = tmp_path / "deep.py"
    script.write_text(DEEP_RUN)
    # In a child process: on the old code DuckDB segfaulted, which would take pytest down with it.
    child = subprocess.run(
        [sys.executable, str(script), str(settings.data_dir)], capture_output=True, text=True
    )
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["rows"] == 2 and outcome["quarantined"] == []
    [message] = outcome["rejected"]
    assert "deep.jsonl: row 2" in message and "nested deeper than 64 levels" in message


def test_a_line_over_the_record_limit_is_named_with_the_setting(tmp_path, registry):
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(tmp_path / "d", sensor_min_file_age_seconds=0, max_record_bytes=4096)
    land(settings, "orders/long.csv", "order_id,status\n1,placed\n2," + "x" * 10_000 + "\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    [record] = report.quarantined
    assert record.reason == "too_large" and record.line == 3
    assert "FOUNDATION_MAX_RECORD_BYTES" in record.message
    assert not open_catalog(settings).load_table("raw.orders").current_snapshot()
