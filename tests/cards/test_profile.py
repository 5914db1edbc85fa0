"""The column profile equals direct computations on the table, and its notes follow the data."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dagster_project.cards.content import profile_notes
from dagster_project.cards.profile import CATEGORY_LIMIT, profile_table
from dagster_project.lakehouse.tables import open_catalog
from tests.cards.helpers import iceberg_table


@pytest.mark.parametrize(
    "name", ["staging.stg_orders", "curated.customer_features", "curated.support_tickets"]
)
def test_profile_counts_and_ranges_equal_direct_computations(sample_built, name):
    settings = sample_built.settings
    table = open_catalog(settings).load_table(name)
    data = table.scan().to_arrow()
    profile = profile_table(settings, table)
    assert profile.snapshot_id == table.current_snapshot().snapshot_id
    assert profile.rows == profile.profiled_rows == data.num_rows > 0
    assert [c.name for c in profile.columns] == data.column_names
    for column in profile.columns:
        values = data[column.name]
        assert column.nulls == values.null_count, column.name
        assert column.distinct == pc.count_distinct(values, mode="only_valid").as_py(), column.name
        if column.kind in ("number", "temporal"):
            bounds = pc.min_max(values).as_py()
            assert (column.minimum, column.maximum) == (bounds["min"], bounds["max"]), column.name
        if column.kind == "number" and values.null_count < len(values):
            mean = pc.mean(values.cast(pa.float64())).as_py()
            assert column.mean == pytest.approx(mean), column.name
        if column.categories:
            assert column.distinct <= CATEGORY_LIMIT
            counts = {r["values"]: r["counts"] for r in pc.value_counts(values).to_pylist()}
            assert all(counts[value] == n for value, n in column.categories), column.name


def _segments(settings, name: str, values: list[str]):
    data = pa.table({"id": pa.array(range(len(values)), pa.int64()), "segment": values})
    return profile_table(settings, iceberg_table(open_catalog(settings), name, data))


def test_a_skewed_category_gets_a_bias_note_and_a_balanced_one_does_not(settings):
    skewed = _segments(settings, "test.skewed", ["consumer"] * 160 + ["smb"] * 30 + ["enterprise"] * 10)
    balanced = _segments(settings, "test.balanced", ["consumer", "smb", "enterprise"] * 60)

    [note] = [n for n in profile_notes(skewed, skip=["id"]) if "segment" in n]
    assert "Skewed" in note and "consumer" in note and "80%" in note and "160 of 200" in note
    assert not [n for n in profile_notes(balanced, skip=["id"]) if "segment" in n]


def test_sparse_constant_and_short_span_columns_are_noted(settings):
    from datetime import date, timedelta

    n = 120
    data = pa.table(
        {
            "channel": ["email"] * n,
            "reason": [None] * 90 + ["late"] * 30,
            "day": [date(2026, 11, 1) + timedelta(days=i % 5) for i in range(n)],
        }
    )
    notes = profile_notes(profile_table(settings, iceberg_table(open_catalog(settings), "test.notes", data)))
    assert any("`channel` holds a single value (email)" in note for note in notes)
    assert any("`reason` is null in 75% of rows" in note for note in notes)
    assert any("`day` spans only 4 day(s)" in note for note in notes)
    assert not any("rows (fewer than" in note for note in notes)  # 120 rows is not "few"


def test_a_table_above_the_row_cap_is_profiled_on_a_sample(settings):
    data = pa.table({"x": pa.array(range(5000), pa.int64())})
    profile = profile_table(settings, iceberg_table(open_catalog(settings), "test.big", data), max_rows=1000)
    assert profile.rows == 5000 and profile.sampled and 800 < profile.profiled_rows < 1200
    assert profile.columns[0].nulls == 0 and profile.columns[0].distinct == profile.profiled_rows
    assert any(f"sample of {profile.profiled_rows:,} rows" in note for note in profile_notes(profile))
