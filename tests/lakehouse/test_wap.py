"""Write-Audit-Publish: nothing reaches main before its audit passed, and no commit is ever lost."""

from pathlib import Path

import pytest

from dagster_project.ingest.convert import connect, convert_file
from dagster_project.lakehouse.publish import StagedFile, ingested_versions, publish_batch
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from dagster_project.lakehouse.wap import AuditFailed, Verdict, audit_branch, main_head, write_audit_publish
from tests.conftest import orders_csv

DAY = "2026-11-22"


@pytest.fixture
def table(settings, registry):
    return ensure_raw_table(open_catalog(settings), registry["orders"])


@pytest.fixture
def stage(settings, registry, tmp_path):
    con = connect("256MB", 1, tmp_path / "duck")
    dataset = registry["orders"]
    columns = {c.name: c.type for c in dataset.columns}

    def _stage(name: str, first_id: int, count: int) -> StagedFile:
        source = tmp_path / "src" / name
        source.parent.mkdir(exist_ok=True)
        source.write_text(orders_csv(first_id, count))
        uri = f"file:///landing/orders/{name}"
        converted = convert_file(
            con,
            dataset,
            source,
            source_label=name,
            table_columns=columns,
            lineage={
                "_source_file": uri,
                "_source_checksum": f"sum-{name}-{first_id}",
                "_ingested_at": f"{DAY}T10:00:00+00:00",
                "_run_id": "r",
            },
            out_path=tmp_path / "staged" / f"{name}.parquet",
        )
        return StagedFile(uri, f"sum-{name}-{first_id}", converted.path, converted.rows, 1)

    yield _stage
    con.close()


def _ids(table, snapshot_id=None) -> list[int]:
    table.refresh()
    snapshot_id = snapshot_id or main_head(table)
    if snapshot_id is None:
        return []
    scan = table.scan(snapshot_id=snapshot_id, selected_fields=("order_id",))
    return sorted(scan.to_arrow()["order_id"].to_pylist())


def passing(*_):
    return Verdict(True)


def test_passing_audit_fast_forwards_main_and_removes_the_branch(table, stage):
    publish_batch(table, [stage("a.csv", 1, 3)], run_id="r0", ingest_day=DAY)
    before = main_head(table)
    seen = []

    def audit(t, branch, snapshot_id, result):
        seen.append((branch, snapshot_id, _ids(t, snapshot_id)))
        assert main_head(t) == before  # not visible on main while audited
        return Verdict(True)

    result = write_audit_publish(table, [stage("b.csv", 4, 2)], run_id="r1", ingest_day=DAY, audit=audit)
    assert seen[0][0] == "audit-r1" and seen[0][2] == [1, 2, 3, 4, 5]
    assert main_head(table) == result.published_snapshot_id == seen[0][1]
    assert table.snapshot_by_id(main_head(table)).parent_snapshot_id == before
    assert "audit-r1" not in table.metadata.refs
    assert _ids(table) == [1, 2, 3, 4, 5]


def test_failing_audit_leaves_main_untouched_and_keeps_the_branch(table, stage):
    publish_batch(table, [stage("a.csv", 1, 3)], run_id="r0", ingest_day=DAY)
    before = main_head(table)
    with pytest.raises(AuditFailed) as failure:
        write_audit_publish(
            table,
            [stage("bad.csv", 4, 2)],
            run_id="r1",
            ingest_day=DAY,
            audit=lambda *_: Verdict(False, "2 null order_id"),
        )
    assert "2 null order_id" in str(failure.value) and failure.value.branch == "audit-r1"
    table.refresh()
    assert main_head(table) == before and _ids(table) == [1, 2, 3]
    held = table.metadata.refs["audit-r1"].snapshot_id
    assert held == failure.value.snapshot_id and _ids(table, held) == [1, 2, 3, 4, 5]
    assert ("file:///landing/orders/bad.csv", "sum-bad.csv-4") not in ingested_versions(table)


def test_retry_after_a_failed_gate_does_not_duplicate(table, stage):
    batch = stage("b.csv", 1, 4)
    parquet = batch.parquet.read_bytes()
    with pytest.raises(AuditFailed):
        write_audit_publish(
            table, [batch], run_id="r1", ingest_day=DAY, audit=lambda *_: Verdict(False, "no")
        )
    batch.parquet.write_bytes(parquet)  # the retried run stages the file again
    result = write_audit_publish(table, [batch], run_id="r1", ingest_day=DAY, audit=passing)
    assert result.published_snapshot_id is not None
    assert _ids(table) == [1, 2, 3, 4]
    assert [r for r in table.metadata.refs if r.startswith("audit-")] == []


def test_main_moving_during_the_audit_is_rebased_without_losing_either_commit(table, stage):
    publish_batch(table, [stage("a.csv", 1, 2)], run_id="r0", ingest_day=DAY)
    concurrent = stage("c.csv", 10, 2)
    audits = []

    def audit(t, branch, snapshot_id, result):
        audits.append(_ids(t, snapshot_id))
        return Verdict(True)

    def someone_commits_to_main():
        if len(audits) == 1:
            publish_batch(table, [concurrent], run_id="other", ingest_day=DAY)

    result = write_audit_publish(
        table,
        [stage("b.csv", 5, 2)],
        run_id="r1",
        ingest_day=DAY,
        audit=audit,
        before_publish=someone_commits_to_main,
    )
    assert result.rebases == 1
    assert audits == [[1, 2, 5, 6], [1, 2, 5, 6, 10, 11]]  # audited again on the new main
    assert _ids(table) == [1, 2, 5, 6, 10, 11]
    history = [s.snapshot_id for s in table.snapshots()]
    assert main_head(table) == history[-1]


def test_first_batch_of_an_empty_table_and_a_rerun_with_nothing_new(table, stage):
    batch = stage("a.csv", 1, 3)
    parquet = batch.parquet.read_bytes()
    assert main_head(table) is None
    result = write_audit_publish(table, [batch], run_id="r1", ingest_day=DAY, audit=passing)
    assert table.snapshots()[0].summary["total-records"] == "0"  # an empty first snapshot to branch from
    assert result.published_snapshot_id == main_head(table) and _ids(table) == [1, 2, 3]
    batch.parquet.write_bytes(parquet)
    again = write_audit_publish(table, [batch], run_id="r2", ingest_day=DAY, audit=passing)
    assert again.published_snapshot_id is None and len(again.publish.already_ingested) == 1
    assert audit_branch("r2") not in table.metadata.refs
    assert not Path(batch.parquet).exists()
