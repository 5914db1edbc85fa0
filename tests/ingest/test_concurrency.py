"""Two ingests of the same dataset and files at once: every file once, every dropped row once, no failure."""

from __future__ import annotations

import json

import pytest

from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import land, orders_csv
from tests.crash_child import run_child
from tests.ingest.test_crash_points import (
    NO_STATUS,
    assert_publish_events_once,
    audit_branches,
    order_ids,
    quarantine,
    setup_customers,
)

pytestmark = pytest.mark.slow  # two ingests at once in child processes


def _race(settings, tmp_path, *, gate: bool) -> list[dict]:
    """Start two ingest runs of all orders files in two processes, released together."""
    barrier = tmp_path / "go"
    children = []
    for name in ("one", "two"):
        spec = {"job": "ingest", "data_dir": settings.data_dir, "dataset": "orders", "run_id": f"run-{name}"}
        spec.update(gate=gate, barrier=barrier, out=tmp_path / f"{name}.json")
        children.append(run_child(spec, wait=False))
    barrier.touch()
    outputs = [child.communicate(timeout=300)[0] for child in children]
    for child, output in zip(children, outputs, strict=True):
        assert child.returncode == 0, output
    return [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("one", "two")]


@pytest.mark.parametrize("gate", [True, False], ids=["write-audit-publish", "straight-to-main"])
def test_two_ingests_of_the_same_files_at_once_commit_each_once(settings, registry, tmp_path, gate):
    setup_customers(settings, registry)
    # A drifted column (a schema change both runs make) and a row the suite drops.
    land(
        settings, "orders/a.csv", orders_csv(1, 20, "coupon", "SPRING") + NO_STATUS.rstrip("\n") + ",SPRING\n"
    )
    land(settings, "orders/b.csv", orders_csv(100, 10))
    reports = _race(settings, tmp_path, gate=gate)

    landed = [*range(1, 21), *range(100, 110)] + ([] if gate else [21])  # without a suite nothing is dropped
    assert order_ids(settings) == sorted(landed, key=str)
    assert sorted(r["rows"] for r in reports) == [0, len(landed)]  # one run committed both files
    [loser] = [r for r in reports if r["rows"] == 0]
    whys = {s["why"].split(" (")[0] for s in loser["skipped"]}
    assert whys <= {"committed by a concurrent run", "already ingested"} and len(loser["skipped"]) == 2
    expected = {("a.csv", "row", "expectation:status_not_null"): 1} if gate else {}
    assert quarantine(settings) == expected  # the row both runs dropped, recorded once
    assert audit_branches(settings, "raw.orders") == []
    assert assert_publish_events_once(settings, "raw.orders") == 1
    columns = {f.name for f in open_catalog(settings).load_table("raw.orders").schema().fields}
    assert "coupon" in columns
