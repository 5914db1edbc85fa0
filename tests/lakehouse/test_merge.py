"""Upserts through Write-Audit-Publish: by key, never lost when main moves, held back when audited out."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dagster_project.lakehouse.merge import ensure_model_table, merge_audit_publish
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import AuditFailed, Verdict


def _rows(ids, label):
    return pa.table({"id": pa.array(ids, pa.int64()), "label": pa.array([label] * len(ids), pa.string())})


def _passes(*_):
    return Verdict(True)


@pytest.fixture
def table(settings):
    catalog = open_catalog(settings)
    t = ensure_model_table(catalog, "curated.things", _rows([], "").schema)
    merge_audit_publish(t, _rows([1, 2, 3], "v1"), key=["id"], run_id="r1", audit=_passes, summary={})
    return t


def _content(table):
    table.refresh()
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])


def test_an_upsert_replaces_rows_by_key_and_adds_new_ones(table):
    merge_audit_publish(table, _rows([2, 4], "v2"), key=["id"], run_id="r2", audit=_passes, summary={})
    assert _content(table) == [
        {"id": 1, "label": "v1"},
        {"id": 2, "label": "v2"},
        {"id": 3, "label": "v1"},
        {"id": 4, "label": "v2"},
    ]
    assert [b for b in table.refs() if b.startswith("audit-")] == []


def test_main_moving_during_the_audit_keeps_both_writes(table):
    moved = []

    def audit(t, branch, snapshot_id):
        if not moved:  # another run publishes while this one is being audited
            moved.append(True)
            merge_audit_publish(t, _rows([5], "other"), key=["id"], run_id="other", audit=_passes, summary={})
        return Verdict(True)

    result = merge_audit_publish(table, _rows([4], "mine"), key=["id"], run_id="r3", audit=audit, summary={})
    assert result.rebases == 1
    assert [r["id"] for r in _content(table)] == [1, 2, 3, 4, 5]


def test_a_failed_audit_leaves_main_alone_and_keeps_the_branch(table):
    before = table.current_snapshot().snapshot_id
    with pytest.raises(AuditFailed) as failure:
        merge_audit_publish(
            table,
            _rows([1], "bad"),
            key=["id"],
            run_id="r4",
            audit=lambda *_: Verdict(False, "no"),
            summary={},
        )
    table.refresh()
    assert table.current_snapshot().snapshot_id == before
    held = table.scan(snapshot_id=table.refs()[failure.value.branch].snapshot_id).to_arrow().to_pylist()
    assert {"id": 1, "label": "bad"} in held
    assert {"id": 1, "label": "v1"} in _content(table)
