"""Kill a raw ingest at every step boundary, rerun once: every row once, nothing stranded or falsely held.

Each test lands files, kills an ingest run for real (SIGKILL in a child process) at one named
crash point, then does what the platform does next: catch-up reruns the files that are not
handled (on main, quarantined or held back by a failed check), once, in this process.
"""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, open_catalog
from dagster_project.lakehouse.wap import held_batches
from dagster_project.quality.suites import load_suite
from dagster_project.registry import Dataset
from tests.conftest import customers_csv, land, orders_csv
from tests.crash_child import run_child

pytestmark = pytest.mark.slow  # an ingest in a child process killed at every crash point, then rerun

NO_STATUS = "21,1,1,1,21.50,EUR,,2026-11-01 10:21:00\n"  # dropped by the suite (status not null)
NO_ORDER_ID = ",1,1,1,1.50,EUR,placed,2026-11-01 10:00:00\n"  # fails the batch (order_id not null)
JUNK = "colour,flavour\nred,sweet\n"  # none of the declared columns: the whole file is quarantined

# Every boundary of a gated ingest whose checks pass.
PASSING = [
    "ingest.staged",
    "quarantine.before_append",
    "quarantine.appended",
    "publish.committed",
    "wap.branch_committed",
    "wap.auditing",
    "wap.audit_passed",
    "wap.published",
    "wap.branch_removed",
    "audit_log.before_append",
    "audit_log.appended",
]
# The boundaries of a gated ingest whose checks fail (nothing is published after them).
FAILING = ["quarantine.appended", "wap.branch_committed", "wap.auditing", "wap.verdict_recorded"]
# A table without a suite: straight to main.
UNGATED = ["publish.committed", "audit_log.before_append"]


def suite_of(settings, dataset: Dataset):
    """The dataset's suite, as its raw asset loads it (without importing Dagster: children start faster)."""
    columns = {c.name for c in dataset.columns} | {name for name, _, _ in LINEAGE_FIELDS}
    return load_suite(dataset.table, columns, settings.expectations_dir)


def setup_customers(settings, registry) -> None:
    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(
        settings, registry["customers"], run_id="customers", suite=suite_of(settings, registry["customers"])
    )


def rerun(settings, registry, *, gate: bool = True, run_id: str = "rerun") -> None:
    """The next run of raw.orders: the files catch-up finds unhandled (none is fine: a run still runs)."""
    from dagster_project.catch_up import pending_work

    keys = [key for dataset, key in pending_work(settings).files if dataset == "orders"]
    suite = suite_of(settings, registry["orders"]) if gate else None
    ingest_dataset(settings, registry["orders"], run_id=run_id, keys=keys, suite=suite)


def crash(settings, point: str, *, gate: bool = True, run_id: str = "crashed") -> None:
    spec = {
        "job": "ingest",
        "data_dir": settings.data_dir,
        "dataset": "orders",
        "run_id": run_id,
        "point": point,
    }
    child = run_child({**spec, "gate": gate})
    assert child.returncode == -signal.SIGKILL, f"never reached {point}: {child.stdout}{child.stderr}"


def order_ids(settings) -> list[int | None]:
    table = open_catalog(settings).load_table("raw.orders")
    if table.current_snapshot() is None:
        return []
    return sorted(table.scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist(), key=str)


def quarantine(settings) -> Counter:
    """(file name, scope, reason) → records, after checking every record id is there once."""
    rows = read_quarantine(open_catalog(settings)).to_pylist()
    ids = Counter(r["record_id"] for r in rows)
    assert all(n == 1 for n in ids.values()), "a quarantine record was written twice"
    return Counter((r["source_file"].rsplit("/", 1)[-1], r["scope"], r["reason"]) for r in rows)


def publishes(table) -> set[int]:
    """The snapshots runs moved main to: the newest commit of each run on main's ancestry."""
    from pyiceberg.table.snapshots import ancestors_of

    points, later = set(), None
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        run = snapshot.summary.additional_properties.get("foundation.run-id") if snapshot.summary else None
        if run is not None and run != later:
            points.add(snapshot.snapshot_id)
        later = run
    return points


def assert_publish_events_once(settings, table_name: str) -> int:
    """Every publish on main has its audit event, once; returns how many publishes there were."""
    catalog = open_catalog(settings)
    events = [
        json.loads(e["snapshot_ids"])[table_name]
        for e in read_audit_log(catalog).to_pylist()
        if e["action"] == "publish" and json.loads(e["tables"]) == [table_name]
    ]
    assert sorted(events) == sorted(set(events)), f"{table_name}: a publish event was written twice"
    assert set(events) == publishes(catalog.load_table(table_name)), (
        f"{table_name}: a publish event is missing"
    )
    return len(events)


def audit_branches(settings, table_name: str) -> list[str]:
    table = open_catalog(settings).load_table(table_name)
    return sorted(b for b in table.metadata.refs if b.startswith("audit-"))


@pytest.mark.parametrize("point", PASSING)
def test_a_gated_ingest_killed_anywhere_is_made_good_by_one_rerun(settings, registry, point):
    setup_customers(settings, registry)
    land(settings, "orders/a.csv", orders_csv(1, 20) + NO_STATUS + NO_STATUS)  # two identical dropped rows
    land(settings, "orders/b.csv", orders_csv(100, 10))
    land(settings, "orders/junk.csv", JUNK)
    crash(settings, point)
    assert not held_batches(open_catalog(settings).load_table("raw.orders")), "held back, but no check failed"
    rerun(settings, registry)
    assert order_ids(settings) == sorted([*range(1, 21), *range(100, 110)], key=str)
    assert quarantine(settings) == {
        ("a.csv", "row", "expectation:status_not_null"): 2,
        ("junk.csv", "file", "schema_mismatch"): 1,
    }
    assert audit_branches(settings, "raw.orders") == []
    assert assert_publish_events_once(settings, "raw.orders") == 1


@pytest.mark.parametrize("point", FAILING)
def test_a_held_back_ingest_killed_anywhere_is_held_once_after_one_rerun(settings, registry, point):
    setup_customers(settings, registry)
    land(settings, "orders/bad.csv", orders_csv(200, 5) + NO_ORDER_ID + NO_STATUS)
    crash(settings, point)
    held = held_batches(open_catalog(settings).load_table("raw.orders"))
    assert len(held) == (1 if point == "wap.verdict_recorded" else 0)  # held only once its check failed
    rerun(settings, registry)
    assert order_ids(settings) == []
    [batch] = held_batches(open_catalog(settings).load_table("raw.orders"))
    assert [uri.rsplit("/", 1)[-1] for uri, _ in batch.files] == ["bad.csv"]
    assert "order_id_not_null" in batch.reason
    assert audit_branches(settings, "raw.orders") == [batch.branch]
    assert quarantine(settings) == {("bad.csv", "row", "expectation:status_not_null"): 1}
    assert assert_publish_events_once(settings, "raw.orders") == 0


@pytest.mark.parametrize("point", UNGATED)
def test_an_ungated_ingest_killed_anywhere_is_made_good_by_one_rerun(settings, registry, point):
    land(settings, "orders/a.csv", orders_csv(1, 20))
    land(settings, "orders/junk.csv", JUNK)
    crash(settings, point, gate=False)
    rerun(settings, registry, gate=False)
    assert order_ids(settings) == sorted(range(1, 21), key=str)
    assert quarantine(settings) == {("junk.csv", "file", "schema_mismatch"): 1}
    assert assert_publish_events_once(settings, "raw.orders") == 1


def test_the_crash_points_are_named_in_order(settings, registry, tmp_path):
    """A run that is not killed passes every point of a gated ingest, in the order listed above."""
    from dagster_project import faults

    setup_customers(settings, registry)
    land(settings, "orders/a.csv", orders_csv(1, 20) + NO_STATUS)
    land(settings, "orders/junk.csv", JUNK)
    seen: list[str] = []
    remove = faults.install(seen.append)
    try:
        rerun(settings, registry, run_id="watched")
    finally:
        remove()
    assert [p for p in seen if p in PASSING] == PASSING
