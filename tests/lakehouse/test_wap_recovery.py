"""Held back means a check failed; an audit that never finished is cleaned up; nothing recorded twice."""

from __future__ import annotations

import signal
import threading

import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import (
    QuarantineRecord,
    read_quarantine,
    record_quarantine,
)
from dagster_project.lakehouse.publish import (
    held_versions,
    ingested_versions,
    landing_versions,
    publish_batch,
)
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import Verdict, held_batches, main_head, write_audit_publish
from tests.conftest import customers_csv, land, orders_csv
from tests.crash_child import run_child
from tests.ingest.test_crash_points import (
    NO_ORDER_ID,
    NO_STATUS,
    assert_publish_events_once,
    audit_branches,
    order_ids,
    quarantine,
    suite_of,
)
from tests.lakehouse.test_wap import DAY, stage, table  # noqa: F401 - fixtures, used by name

pytestmark = pytest.mark.slow  # ingests killed in child processes, then rerun


def _orders_table(settings):
    return open_catalog(settings).load_table("raw.orders")


def _land_orders(settings, registry) -> None:
    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(
        settings, registry["customers"], run_id="customers", suite=suite_of(settings, registry["customers"])
    )
    land(settings, "orders/a.csv", orders_csv(1, 20) + NO_STATUS)


def _kill_ingest(settings, patch: str, *, after: bool = False) -> None:
    spec = {"job": "ingest", "data_dir": settings.data_dir, "dataset": "orders", "run_id": "killed"}
    child = run_child({**spec, "patch": patch, "patch_after": after})
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


def _rerun(settings, registry) -> None:
    ingest_dataset(settings, registry["orders"], run_id="rerun", suite=suite_of(settings, registry["orders"]))


# Bug "Stranded batches": a kill between the audit-branch commit and the publish.


def test_a_run_killed_before_its_publish_is_not_held_back_and_its_file_is_retried(settings, registry):
    _land_orders(settings, registry)
    _kill_ingest(settings, "dagster_project.lakehouse.wap:fast_forward")
    orders = _orders_table(settings)
    assert audit_branches(settings, "raw.orders") == ["audit-killed"]  # the unfinished audit
    assert held_batches(orders) == [], "reported as held back although no check failed"
    assert held_versions(orders) == set()
    assert landing_versions(orders) == set()  # sensors see the file as due

    from dagster_project.catch_up import pending_work

    assert pending_work(settings).files == [("orders", "orders/a.csv")]  # catch-up retries it
    _rerun(settings, registry)
    assert order_ids(settings) == sorted(range(1, 21), key=str)
    assert audit_branches(settings, "raw.orders") == []


def test_a_run_killed_after_its_publish_leaves_no_phantom_held_batch(settings, registry):
    _land_orders(settings, registry)
    # The first branch removal of the run is the one right after main moved to the branch.
    _kill_ingest(settings, "pyiceberg.table.update.snapshot:ManageSnapshots.remove_branch")
    orders = _orders_table(settings)
    assert order_ids(settings) == sorted(range(1, 21), key=str)
    assert held_batches(orders) == [], "a held batch listing files already on main"
    _rerun(settings, registry)
    assert audit_branches(settings, "raw.orders") == []
    assert order_ids(settings) == sorted(range(1, 21), key=str)


# Bug "Lost dropped rows": a kill between the main commit and the quarantine append.


def test_rows_dropped_by_a_run_killed_right_after_its_commit_are_recorded_once(settings, registry):
    _land_orders(settings, registry)
    _kill_ingest(settings, "dagster_project.lakehouse.wap:fast_forward", after=True)  # main has moved
    _rerun(settings, registry)
    assert order_ids(settings) == sorted(range(1, 21), key=str)
    assert quarantine(settings) == {("a.csv", "row", "expectation:status_not_null"): 1}


def test_the_publish_event_of_a_run_killed_before_its_audit_record_is_recorded_once(settings, registry):
    _land_orders(settings, registry)
    _kill_ingest(settings, "dagster_project.ingest.engine:record_audit")
    _rerun(settings, registry)  # nothing new to ingest: it records what the killed run could not
    _rerun(settings, registry)
    assert assert_publish_events_once(settings, "raw.orders") == 1


def test_the_publish_event_of_a_run_killed_after_its_audit_record_is_not_recorded_again(settings, registry):
    _land_orders(settings, registry)
    _kill_ingest(settings, "dagster_project.ingest.engine:record_audit", after=True)
    _rerun(settings, registry)
    assert assert_publish_events_once(settings, "raw.orders") == 1


# What "held back" means, and what happens to an audit in progress.


def test_only_a_failed_audit_holds_a_batch_back_and_its_verdict_says_why(table, stage):  # noqa: F811
    with pytest.raises(Exception, match="2 null order_id"):
        write_audit_publish(
            table,
            [stage("bad.csv", 1, 2)],
            run_id="r1",
            ingest_day=DAY,
            audit=lambda *_: Verdict(False, "2 null order_id", ("order_id_not_null",)),
        )
    [batch] = held_batches(table)
    assert (batch.branch, batch.reason, batch.failed) == (
        "audit-r1",
        "2 null order_id",
        ("order_id_not_null",),
    )
    assert batch.files == [("file:///landing/orders/bad.csv", "sum-bad.csv-1")]


def test_foundation_held_lists_the_batch_a_failed_check_held_back_and_why(
    settings, registry, monkeypatch, capsys
):
    from dagster_project.cli import main

    _land_orders(settings, registry)
    _rerun(settings, registry)  # a.csv passes
    land(settings, "orders/bad.csv", orders_csv(30, 2) + NO_ORDER_ID)
    suite = suite_of(settings, registry["orders"])
    ingest_dataset(settings, registry["orders"], run_id="bad", keys=["orders/bad.csv"], suite=suite)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    for name in ("FOUNDATION_LANDING_URI", "FOUNDATION_WAREHOUSE_URI", "FOUNDATION_QUARANTINE_URI"):
        monkeypatch.delenv(name, raising=False)
    assert main(["held"]) == 0
    out = capsys.readouterr().out
    assert "raw.orders  audit-bad" in out and "held back because: order_id_not_null" in out
    assert "orders/bad.csv" in out and "orders/a.csv" not in out


def test_an_audit_still_in_progress_is_never_disturbed(table, stage, settings):  # noqa: F811
    from dagster_project.lakehouse.held import recover_unfinished

    seen = []

    def audit(t, branch, snapshot_id, result):
        # Another run of the table starts meanwhile, with its own catalog: it must leave us alone.
        other = open_catalog(settings).load_table("raw.orders")
        seen.append(recover_unfinished(other, current_run_id="other", grace_seconds=0))
        return Verdict(True)

    result = write_audit_publish(table, [stage("a.csv", 1, 3)], run_id="r1", ingest_day=DAY, audit=audit)
    assert sorted(seen[0].kept) == ["audit-r1"] and seen[0].removed == {}
    assert result.published_snapshot_id == main_head(table)


def test_an_unfinished_audit_goes_when_its_run_is_known_to_have_stopped(table, stage, monkeypatch):  # noqa: F811
    import dagster_project.lakehouse.branches as branches
    from dagster_project.lakehouse.held import recover_unfinished

    class Killed(BaseException):
        """Stands for the process dying mid-audit: no cleanup code runs, the branch stays."""

    def stop_after_branch_commit(t, branch, snapshot_id, result):
        raise Killed

    with pytest.raises(Killed):
        write_audit_publish(
            table, [stage("a.csv", 1, 3)], run_id="r1", ingest_day=DAY, audit=stop_after_branch_commit
        )
    table.refresh()
    assert "audit-r1" in table.metadata.refs and held_batches(table) == []
    # Written by this (live) process: in progress, whatever the grace period.
    assert sorted(recover_unfinished(table, grace_seconds=0).kept) == ["audit-r1"]
    # The orchestrator knows the run finished: gone.
    assert "audit-r1" in recover_unfinished(table, alive=lambda run: False).removed
    table.refresh()
    assert "audit-r1" not in table.metadata.refs
    # From another machine (its process cannot be checked): gone only after the grace period.
    with pytest.raises(Killed):
        write_audit_publish(
            table, [stage("b.csv", 4, 3)], run_id="r2", ingest_day=DAY, audit=stop_after_branch_commit
        )
    monkeypatch.setattr(branches.socket, "gethostname", lambda: "another-machine")
    assert sorted(recover_unfinished(table, grace_seconds=3600).kept) == ["audit-r2"]
    assert "audit-r2" in recover_unfinished(table, grace_seconds=0).removed
    assert ingested_versions(table) == {}  # nothing ever reached main


def test_an_audit_branch_of_an_older_version_is_kept_until_its_files_are_on_main(table, stage):  # noqa: F811
    from dagster_project.lakehouse.held import recover_unfinished, release

    base = publish_batch(table, [stage("a.csv", 1, 2)], run_id="r0", ingest_day=DAY).snapshot_id
    table.manage_snapshots().create_branch(base, "audit-old").commit()  # as older versions held a batch
    old = stage("b.csv", 5, 2)
    publish_batch(table, [old], run_id="old", ingest_day=DAY, branch="audit-old")
    table.refresh()
    assert held_batches(table) == [] and held_versions(table) == set()  # not held: its file is due
    recovery = recover_unfinished(table, grace_seconds=0)
    assert "audit-old" in recovery.kept and "older version" in recovery.kept["audit-old"]
    assert release(table, "audit-old") == main_head(table)  # still releasable after review
    assert ("file:///landing/orders/b.csv", "sum-b.csv-5") in ingested_versions(table)


# Bug "Concurrency": a commit to one audit branch while another run commits to its own.


def test_a_commit_racing_another_audit_branch_is_retried_not_called_bad_input(table, stage):  # noqa: F811
    base = publish_batch(table, [stage("a.csv", 1, 2)], run_id="r0", ingest_day=DAY).snapshot_id
    table.manage_snapshots().create_branch(base, "audit-mine").commit()
    table.manage_snapshots().create_branch(base, "audit-theirs").commit()
    theirs = stage("c.csv", 10, 2)
    raced = []

    def they_commit_first():
        if not raced:  # between our reload and our commit, another run commits to its own branch
            raced.append(
                publish_batch(table, [theirs], run_id="theirs", ingest_day=DAY, branch="audit-theirs")
            )

    result = publish_batch(
        table,
        [stage("b.csv", 5, 2)],
        run_id="mine",
        ingest_day=DAY,
        branch="audit-mine",
        before_commit=they_commit_first,
    )
    assert raced and result.committed and result.attempts == 2
    table.refresh()
    assert ("file:///landing/orders/b.csv", "sum-b.csv-5") in ingested_versions(table, "audit-mine")


def _record(checksum: str, line: int | None, row: str | None) -> QuarantineRecord:
    from datetime import UTC, datetime

    return QuarantineRecord(
        quarantined_at=datetime.now(UTC),
        dataset="orders",
        source_file="file:///landing/orders/a.csv",
        source_checksum=checksum,
        quarantine_file="",
        reason="expectation:status_not_null",
        message="row dropped",
        line=line,
        column_name="status",
        run_id="r",
        row_data=row,
    )


def test_quarantine_records_are_written_once_however_often_and_concurrently_recorded(settings):
    records = [
        _record("c1", None, '{"order_id": 1}'),
        _record("c1", None, '{"order_id": 1}'),
    ]  # identical rows
    records.append(_record("c1", None, '{"order_id": 2}'))
    assert record_quarantine(open_catalog(settings), records) == 3
    assert record_quarantine(open_catalog(settings), records) == 0  # a rerun

    more = [_record("c2", None, f'{{"order_id": {i}}}') for i in range(5)]
    start = threading.Barrier(3)
    counts: list[int] = []

    def writer():
        catalog = open_catalog(settings)  # each run has its own catalog connection
        start.wait()
        counts.append(record_quarantine(catalog, more))

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counts) == [0, 0, 5]
    rows = read_quarantine(open_catalog(settings))
    assert rows.num_rows == 8 and len(set(rows["record_id"].to_pylist())) == 8


def test_a_crash_point_hook_sees_the_verdict_before_the_branch_is_left(table, stage):  # noqa: F811
    from dagster_project import faults

    seen: list[str] = []
    remove = faults.install(seen.append)
    try:
        with pytest.raises(Exception, match="no"):
            write_audit_publish(
                table,
                [stage("bad.csv", 1, 2)],
                run_id="r1",
                ingest_day=DAY,
                audit=lambda *_: Verdict(False, "no"),
            )
    finally:
        remove()
    assert seen == ["publish.committed", "wap.branch_committed", "wap.auditing", "wap.verdict_recorded"]
