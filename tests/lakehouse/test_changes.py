"""Incremental reads of an append-only table: only the commits after a watermark are read."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dagster_project.lakehouse.changes import SEQUENCE_COLUMN, NotAppendOnly, appended_since
from dagster_project.lakehouse.tables import ensure_table, open_catalog


@pytest.fixture
def table(settings):
    catalog = open_catalog(settings)

    t = ensure_table(catalog, "raw.things", _schema())
    for first in (1, 11, 21):
        t.append(pa.table({"id": pa.array(range(first, first + 10), pa.int64()), "name": ["x"] * 10}))
    return catalog.load_table("raw.things")


def _schema():
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, StringType

    return Schema(
        NestedField(1, "id", LongType(), required=False), NestedField(2, "name", StringType(), required=False)
    )


def test_rows_after_a_watermark_are_those_of_later_commits_with_their_sequence_numbers(table):
    sequences = sorted(s.sequence_number for s in table.snapshots())
    assert len(sequences) == 3
    everything = appended_since(table, 0)
    assert sorted(everything["id"].to_pylist()) == list(range(1, 31))
    after_first = appended_since(table, sequences[0])
    assert sorted(after_first["id"].to_pylist()) == list(range(11, 31))
    assert set(after_first[SEQUENCE_COLUMN].to_pylist()) == set(sequences[1:])
    assert appended_since(table, sequences[-1]).num_rows == 0


def test_new_columns_read_as_null_for_older_commits(table):
    with table.update_schema() as update:
        from pyiceberg.types import StringType

        update.add_column("note", StringType())
    table.append(pa.table({"id": pa.array([99], pa.int64()), "name": ["y"], "note": ["new"]}))
    rows = appended_since(table, 0)
    assert rows.num_rows == 31
    assert rows.filter(pa.compute.equal(rows["id"], 99))["note"].to_pylist() == ["new"]
    assert rows.filter(pa.compute.equal(rows["id"], 1))["note"].to_pylist() == [None]


def test_a_table_with_deletes_is_refused_after_a_watermark_and_read_whole_from_0(table):
    from pyiceberg.expressions import EqualTo

    watermark = table.current_snapshot().sequence_number
    table.delete(EqualTo("id", 5))
    with pytest.raises(NotAppendOnly, match=r"commit \d+ is an? \w+; rebuild its consumers in full"):
        appended_since(table, watermark)
    # From 0 (a first build, or the full refresh the message asks for) the table is read as it is now.
    assert sorted(appended_since(table, 0)["id"].to_pylist()) == [i for i in range(1, 31) if i != 5]
