"""Upserts through Write-Audit-Publish: by key, never lost when main moves, held back when audited out."""

from __future__ import annotations

from decimal import Decimal

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


def _pairs(pairs, label):
    return pa.table(
        {
            "a": pa.array([p[0] for p in pairs], pa.int64()),
            "b": pa.array([p[1] for p in pairs], pa.string()),
            "label": pa.array([label] * len(pairs), pa.string()),
        }
    )


def test_a_composite_key_upsert_replaces_exactly_its_pairs_at_any_size(settings):
    # 3,000 pairs whose both parts vary (the old filter, one AND term per pair chained by OR,
    # overflowed Python's stack past about a thousand); (1, 'y') and (2, 'x') share a part with new
    # pairs without being one, and must stay; a missing part matches a missing part.
    catalog = open_catalog(settings)
    first = [(n, f"k{n}") for n in range(3000)] + [(1, "y"), (2, "x"), (7, None)]
    t = ensure_model_table(catalog, "curated.pairs", _pairs([], "").schema)
    merge_audit_publish(t, _pairs(first, "v1"), key=["a", "b"], run_id="p1", audit=_passes, summary={})
    changed = [(n, f"k{n}") for n in range(0, 3000, 2)] + [(7, None), (9, "new")]
    merge_audit_publish(t, _pairs(changed, "v2"), key=["a", "b"], run_id="p2", audit=_passes, summary={})
    t.refresh()
    rows = {(r["a"], r["b"]): r["label"] for r in t.scan().to_arrow().to_pylist()}
    assert len(rows) == t.scan().to_arrow().num_rows == 3000 + 3 + 1  # no pair twice, none lost
    assert rows[(0, "k0")] == "v2" and rows[(1, "k1")] == "v1" and rows[(2998, "k2998")] == "v2"
    assert rows[(1, "y")] == rows[(2, "x")] == "v1" and rows[(7, None)] == "v2" and rows[(9, "new")] == "v2"


def test_a_full_refresh_with_types_the_table_cannot_take_replaces_rows_and_types_at_once(settings):
    # After `foundation rebuild` changed a raw decimal's scale, the model's full refresh brings
    # decimal(18,2) where its table has decimal(18,1): Iceberg cannot change a scale in place, and the
    # publish failed ("Rescaling Decimal value would cause data loss") on every later build.
    catalog = open_catalog(settings)
    old = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "mm": pa.array([Decimal("0.2"), None], pa.decimal128(18, 1)),
            "gone": pa.array(["x", "y"]),
        }
    )
    t = ensure_model_table(catalog, "staging.rain", old.schema)
    merge_audit_publish(t, old, key=None, run_id="a", audit=_passes, summary={})
    before = t.current_snapshot().snapshot_id
    new = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "mm": pa.array([Decimal("0.20"), None, Decimal("0.25")], pa.decimal128(18, 2)),
        }
    )
    t = ensure_model_table(catalog, "staging.rain", new.schema)
    merge_audit_publish(t, new, key=None, run_id="b", audit=_passes, summary={})
    t.refresh()
    assert str(t.schema().find_field("mm").field_type) == "decimal(18, 2)"
    assert "gone" not in t.schema().column_names  # a column the model no longer has is not kept empty
    assert t.scan().to_arrow().sort_by("id").to_pylist() == new.to_pylist()
    assert t.scan(snapshot_id=before).to_arrow().num_rows == 2  # the old snapshot still reads

    def fails(*_):
        return Verdict(False, "bad")

    with pytest.raises(AuditFailed):  # a failed audit changes nothing
        merge_audit_publish(t, old, key=None, run_id="c", audit=fails, summary={})
    t.refresh()
    assert (
        str(t.schema().find_field("mm").field_type) == "decimal(18, 2)" and t.scan().to_arrow().num_rows == 3
    )


def test_a_replacing_publish_drops_the_columns_the_model_no_longer_selects(settings):
    # A column since declared PII and left out of the staging model must not stay readable in it.
    catalog = open_catalog(settings)
    before = pa.table({"id": pa.array([1], pa.int64()), "body_mass_g": pa.array([3600], pa.int64())})
    t = ensure_model_table(catalog, "staging.penguins", before.schema)
    merge_audit_publish(t, before, key=None, run_id="a", audit=_passes, summary={})
    after = pa.table({"id": pa.array([1], pa.int64())})
    merge_audit_publish(
        ensure_model_table(catalog, "staging.penguins", after.schema),
        after,
        key=None,
        run_id="b",
        audit=_passes,
        summary={},
    )
    t.refresh()
    assert list(t.schema().column_names) == ["id"] and t.scan().to_arrow().to_pylist() == [{"id": 1}]
