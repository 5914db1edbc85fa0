"""Table maintenance: expiry, orphan removal and compaction never lose a live row or a reader's place."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.changes import WATERMARK_PROPERTY, appended_since
from dagster_project.lakehouse.compaction import compact, incremental_sources, read_horizon
from dagster_project.lakehouse.publish import ingested_versions, landing_versions
from dagster_project.lakehouse.table_maintenance import expire_snapshots, remove_orphan_files
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import AuditFailed, Verdict, release, write_audit_publish
from dagster_project.landing.store import local_path
from tests.conftest import land, orders_csv

WEEK = timedelta(days=7)
BIG = 128 << 20


@pytest.fixture
def raw(settings, registry):
    """raw.orders after six ingests of five orders each: six commits, six small files, one partition."""
    for i in range(6):
        land(settings, f"orders/o{i}.csv", orders_csv(1 + 5 * i, 5))
        ingest_dataset(settings, registry["orders"], run_id=f"run-{i}", keys=[f"orders/o{i}.csv"])
    return open_catalog(settings).load_table("raw.orders")


def _rows(table, snapshot_id=None) -> list[tuple]:
    table.refresh()
    data = table.scan(snapshot_id=snapshot_id).to_arrow()
    return sorted(zip(data["order_id"].to_pylist(), data["_source_file"].to_pylist(), strict=True))


def _ids(rows: pa.Table) -> list[int]:
    return sorted(rows["order_id"].to_pylist())


def _consumer(settings, reads: int):
    """A consuming table whose watermark says it read raw.orders up to sequence number `reads`."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("staging")
    table = catalog.create_table_if_not_exists(
        "staging.reader", Schema(NestedField(1, "x", LongType(), required=False))
    )
    mark = {WATERMARK_PROPERTY: json.dumps({"raw.orders": reads})}
    table.append(pa.table({"x": pa.array([reads], pa.int64())}), snapshot_properties=mark)
    return table


def _later() -> datetime:
    return datetime.now(UTC) + WEEK + timedelta(days=1)


def test_expiry_keeps_the_window_and_the_last_m_and_every_live_row(raw):
    snapshots = sorted(raw.snapshots(), key=lambda s: s.timestamp_ms)
    before = {s.snapshot_id: _rows(raw, s.snapshot_id) for s in snapshots}
    # "now" is a week after the 4th commit: the 4th to 6th are inside the window, the rest expire.
    now = datetime.fromtimestamp(snapshots[3].timestamp_ms / 1000, UTC) + WEEK
    report = expire_snapshots(raw, older_than=WEEK, keep_last=1, now=now)
    assert report.snapshots_expired == 3
    assert report.before.snapshots == 6
    raw.refresh()
    for s in snapshots[:3]:
        assert raw.metadata.snapshot_by_id(s.snapshot_id) is None
    for s in snapshots[3:]:
        assert _rows(raw, s.snapshot_id) == before[s.snapshot_id]  # time travel in the window
    assert _rows(raw) == before[snapshots[-1].snapshot_id]
    # Ages alone would expire everything: the last M of main stay.
    expire_snapshots(raw, older_than=WEEK, keep_last=2, now=_later())
    raw.refresh()
    kept = {s.snapshot_id for s in raw.snapshots()}
    assert {s.snapshot_id for s in snapshots[-2:]} <= kept
    assert snapshots[3].snapshot_id not in kept
    assert _rows(raw) == before[snapshots[-1].snapshot_id]


def test_after_expiry_an_ingested_file_version_is_still_skipped(settings, registry, raw):
    identities, versions = set(ingested_versions(raw)), landing_versions(raw)
    assert len(identities) == 6
    expire_snapshots(raw, older_than=WEEK, keep_last=1, now=_later())
    raw.refresh()
    assert len(raw.snapshots()) == 2  # the last commit and the checkpoint that carries the rest
    assert set(ingested_versions(raw)) == identities
    assert landing_versions(raw) == versions
    # Idempotent: a second run finds nothing more to expire and commits nothing.
    assert expire_snapshots(raw, older_than=WEEK, keep_last=1, now=_later()).snapshots_expired == 0
    report = ingest_dataset(settings, registry["orders"], run_id="again", keys=["orders/o0.csv"])
    assert report.ingested == [] and len(report.skipped) == 1
    assert len(_rows(raw)) == 30


def test_consumers_read_exactly_their_unread_rows_after_compaction_and_expiry(settings, raw):
    sequences = sorted(s.sequence_number for s in ancestors_of(raw.current_snapshot(), raw.metadata))
    _consumer(settings, sequences[2])  # has read the first three commits (orders 1..15)
    catalog = open_catalog(settings)
    consumers = incremental_sources(catalog, None)
    assert consumers == {"raw.orders": {"staging.reader"}}
    horizon = read_horizon(catalog, "raw.orders", consumers["raw.orders"])
    assert horizon == sequences[2]
    everything = _rows(raw)

    report = compact(raw, target_file_bytes=BIG, min_files=2, max_sequence=horizon)
    assert (report.before.data_files, report.after.data_files) == (6, 4)  # unread files left alone
    raw.refresh()
    assert raw.current_snapshot().summary.operation.value == "replace"
    assert _rows(raw) == everything
    expire_snapshots(raw, older_than=WEEK, keep_last=1, now=_later())  # the replace commit expires too
    raw.refresh()
    assert _ids(appended_since(raw, sequences[2])) == list(range(16, 31))
    assert _ids(appended_since(raw, 0)) == list(range(1, 31))  # a new consumer reads all, once


def test_compaction_rewrites_a_partitions_small_files_in_one_commit(raw):
    everything = _rows(raw)
    head = raw.current_snapshot().snapshot_id
    report = compact(raw, target_file_bytes=BIG, min_files=2)
    assert (report.before.data_files, report.after.data_files) == (6, 1)
    assert report.files_removed == 6 and report.files_added == 1
    assert report.after.data_bytes < report.before.data_bytes
    raw.refresh()
    assert raw.current_snapshot().parent_snapshot_id == head
    assert _rows(raw) == everything
    assert _rows(raw, head) == everything
    # Too few small files in the partition: nothing to do.
    assert compact(raw, target_file_bytes=BIG, min_files=2).files_removed == 0


def test_an_ingest_committed_during_compaction_is_kept(settings, registry, raw):
    land(settings, "orders/late.csv", orders_csv(100, 5))

    def ingest_meanwhile():
        ingest_dataset(settings, registry["orders"], run_id="late", keys=["orders/late.csv"])

    report = compact(raw, target_file_bytes=BIG, min_files=2, before_commit=ingest_meanwhile)
    assert report.files_added == 0 and "not compacted" in report.notes[0]
    ids = [r[0] for r in _rows(raw)]
    assert ids == sorted([*range(1, 31), *range(100, 105)])
    # The files the failed compaction wrote were removed at once: nothing unreferenced is left.
    assert remove_orphan_files(raw, older_than=timedelta(0), dry_run=True).files_removed == 0


def _age(path: Path, days: float) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


def test_orphan_removal_deletes_old_unreferenced_files_only(raw):
    live = [local_path(p) for p in raw.inspect.files()["file_path"].to_pylist()]
    aborted, fresh = live[0].with_name("aborted-write.parquet"), live[0].with_name("in-flight.parquet")
    shutil.copy(live[0], aborted)
    shutil.copy(live[0], fresh)
    _age(aborted, 3)
    for path in live:
        _age(path, 3)  # old live files are still never touched
    everything = _rows(raw)
    report = remove_orphan_files(raw, older_than=timedelta(hours=24))
    assert report.files_removed == 1 and report.bytes_removed == fresh.stat().st_size
    assert not aborted.exists()
    assert fresh.exists()
    assert all(p.exists() for p in live)
    assert _rows(raw) == everything
    for s in raw.snapshots():
        assert len(_rows(raw, s.snapshot_id)) > 0


def test_files_only_expired_snapshots_needed_become_orphans(raw):
    compact(raw, target_file_bytes=BIG, min_files=2)
    raw.refresh()
    replaced = [local_path(p) for p in raw.inspect.all_data_files()["file_path"].to_pylist()]
    expire_snapshots(raw, older_than=WEEK, keep_last=1, now=_later())
    report = remove_orphan_files(raw, older_than=timedelta(0), now=_later())
    assert report.files_removed >= 6  # the six small files, plus expired manifests and lists
    raw.refresh()
    assert len(raw.inspect.files()) == 1
    assert sum(p.exists() for p in replaced) == 1
    assert len(_rows(raw)) == 30


def test_a_held_back_batch_survives_maintenance_and_can_still_be_published(settings, registry, raw):
    from dagster_project.ingest.convert import connect, convert_file
    from dagster_project.lakehouse.publish import StagedFile

    dataset = registry["orders"]
    source = land(settings, "orders/held.csv", orders_csv(200, 5))
    con = connect("256MB", 1, settings.work_dir / "duck")
    converted = convert_file(
        con,
        dataset,
        source,
        source_label="held.csv",
        table_columns={c.name: c.type for c in dataset.columns},
        lineage={
            "_source_file": "file:///held.csv",
            "_source_checksum": "sum-held",
            "_ingested_at": "2026-11-01T10:00:00+00:00",
            "_run_id": "held",
        },
        out_path=settings.work_dir / "held.parquet",
    )
    con.close()
    staged = StagedFile("file:///held.csv", "sum-held", converted.path, converted.rows, 1, version="v1")
    with pytest.raises(AuditFailed) as failed:
        write_audit_publish(
            raw, [staged], run_id="held", ingest_day="2026-11-01", audit=lambda *_: Verdict(False, "no")
        )
    branch = failed.value.branch
    compact(raw, target_file_bytes=BIG, min_files=2)
    expire_snapshots(raw, older_than=WEEK, keep_last=1, now=_later())
    remove_orphan_files(raw, older_than=timedelta(0), now=_later())
    raw.refresh()
    assert branch in raw.metadata.refs
    assert ("file:///held.csv", "v1") in landing_versions(raw)
    release(raw, branch)
    raw.refresh()
    assert [r[0] for r in _rows(raw)] == sorted([*range(1, 31), *range(200, 205)])


def test_a_compacted_model_table_needs_no_rebuild_of_the_working_database(settings):
    from dagster_project.transform import working_db

    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("staging")
    table = catalog.create_table("staging.things", pa.schema([pa.field("id", pa.int64())]))
    for first in (1, 11, 21):
        table.append(pa.table({"id": pa.array(range(first, first + 10), pa.int64())}))
    model = working_db.Model("staging", "things")
    con = working_db.connect(settings)
    try:
        assert working_db.sync(con, catalog, [model])["staging.things"].startswith("rebuilt")
        compact(table, target_file_bytes=BIG, min_files=2)
        assert working_db.sync(con, catalog, [model]) == {
            "staging.things": "in step (maintenance commits only)"
        }
        table.append(pa.table({"id": pa.array([99], pa.int64())}))
        assert working_db.sync(con, catalog, [model])["staging.things"].startswith("rebuilt")
        assert con.execute("select count(*) from staging.things").fetchone()[0] == 31
    finally:
        con.close()


def test_an_unpartitioned_table_compacts_into_one_file_with_its_rows_sequence_number(settings):
    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("staging")
    table = catalog.create_table("staging.flat", pa.schema([pa.field("id", pa.int64())]))
    for first in (1, 11, 21):
        table.append(pa.table({"id": pa.array(range(first, first + 10), pa.int64())}))
    report = compact(table, target_file_bytes=BIG, min_files=2)
    assert (report.files_removed, report.files_added, report.after.data_files) == (3, 1, 1)
    table.refresh()
    [entry] = [
        e for m in table.current_snapshot().manifests(table.io) for e in m.fetch_manifest_entry(table.io)
    ]
    assert entry.sequence_number == 3 and entry.data_file.file_path.startswith(table.location())
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(1, 31))
