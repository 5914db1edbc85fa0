"""Pins the pyiceberg behaviour the adapter relies on: a replace commit that keeps sequence numbers,
and a requirement on main's head that fails a commit once main has moved."""

from __future__ import annotations

import inspect

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import parquet_file_to_data_file, schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.types import LongType, NestedField

from dagster_project.lakehouse.pyiceberg_adapter import require_main_at, stage_rewrite


@pytest.fixture
def table(tmp_path) -> Table:
    """An unpartitioned table after three appends of two rows each: three files, sequence numbers 1-3."""
    catalog = SqlCatalog(
        "pins", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=f"file://{tmp_path / 'warehouse'}"
    )
    catalog.create_namespace("raw")
    table = catalog.create_table("raw.t", Schema(NestedField(1, "x", LongType(), required=False)))
    for first in (1, 3, 5):
        table.append(pa.table({"x": pa.array([first, first + 1], pa.int64())}))
    return table


def _entries(table: Table) -> list:
    snapshot = table.current_snapshot()
    return [
        entry
        for manifest in snapshot.manifests(table.io)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    ]


def test_private_members_the_rewrite_overrides_still_exist():
    # _RewriteFiles overrides these and reads these attributes; a rename upstream must fail here.
    assert callable(_OverwriteFiles._manifests) and callable(_OverwriteFiles._summary)
    source = inspect.getsource(_OverwriteFiles.__mro__[1])  # _SnapshotProducer
    for attribute in ("self._added_data_files", "self._operation", "self._transaction", "self._snapshot_id"):
        assert attribute in source


def test_stage_rewrite_commits_a_replace_that_keeps_the_rows_and_their_sequence_number(table, tmp_path):
    removed = [e.data_file for e in _entries(table)]
    path = f"file://{tmp_path / 'warehouse' / 'compacted.parquet'}"
    rows = table.scan().to_arrow()
    with table.io.new_output(path).create() as sink:
        pq.write_table(rows.cast(schema_to_pyarrow(table.schema())), sink)
    added = parquet_file_to_data_file(table.io, table.metadata, path)

    tx = table.transaction()
    stage_rewrite(
        tx, table.io, removed=removed, added=[added], sequence_numbers={path: 3}, properties={"why": "pin"}
    )
    tx.commit_transaction()

    summary = table.current_snapshot().summary
    assert summary.operation == Operation.REPLACE
    assert (summary["added-data-files"], summary["deleted-data-files"], summary["why"]) == ("1", "3", "pin")
    [entry] = _entries(table)
    assert entry.data_file.file_path == path
    assert entry.sequence_number == 3  # the rows' own, not this snapshot's (4)
    assert table.metadata.last_sequence_number == 4
    assert sorted(table.scan().to_arrow()["x"].to_pylist()) == [1, 2, 3, 4, 5, 6]


def test_require_main_at_fails_the_commit_once_main_has_moved(table):
    head = table.current_snapshot().snapshot_id
    tx = table.transaction()
    require_main_at(tx, head)
    tx.set_properties(touched="yes")
    table.append(pa.table({"x": pa.array([7], pa.int64())}))  # another writer moves main
    with pytest.raises(CommitFailedException):
        tx.commit_transaction()
    table.refresh()
    assert "touched" not in table.properties


def test_require_main_at_lets_the_commit_through_when_main_stayed(table):
    tx = table.transaction()
    require_main_at(tx, table.current_snapshot().snapshot_id)
    tx.set_properties(touched="yes")
    tx.commit_transaction()
    assert table.properties["touched"] == "yes"
