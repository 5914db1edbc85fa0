"""A registry type change survives: widenings evolve the raw table in place, narrowings are named at load."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from dagster_project.cli import main
from dagster_project.defs import raw
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.evolution import SchemaConflict, widens
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog, type_name_of
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import land


def write_registry(path: Path, columns: dict[str, str]) -> None:
    """A one-dataset registry, `meters` (CSV under meters/), with these columns."""
    lines = "\n".join(f'          {name}: {{type: "{type_}"}}' for name, type_ in columns.items())
    path.write_text(
        textwrap.dedent(
            """
            version: 1
            datasets:
              meters:
                description: Meter readings.
                owner: team:test
                landing: {prefix: meters/, glob: "*.csv"}
                format: csv
                primary_key: [id]
                columns:
            """
        )
        + lines
        + "\n"
    )


@pytest.fixture
def meters(tmp_path: Path) -> Settings:
    return Settings.for_data_dir(
        tmp_path / "data", sensor_min_file_age_seconds=0, sources_file=tmp_path / "sources.yml"
    )


def ingest(settings: Settings, run_id: str, **kwargs):  # noqa: ANN201
    return ingest_dataset(settings, load_registry(settings.sources_file)["meters"], run_id=run_id, **kwargs)


def table_types(settings: Settings) -> dict[str, str]:
    table = open_catalog(settings).load_table("raw.meters")
    return {f.name: type_name_of(f.field_type) for f in table.schema().fields}


def rows(settings: Settings) -> dict[int, dict]:
    table = open_catalog(settings).load_table("raw.meters")
    return {r["id"]: r for r in table.scan().to_arrow().to_pylist()}


WIDENINGS = [
    ("int", "long", "7", "3000000000", 7, 3000000000),
    ("float", "double", "1.5", "0.1", 1.5, 0.1),
    ("decimal(5,2)", "decimal(12,2)", "123.45", "1234567.89", Decimal("123.45"), Decimal("1234567.89")),
]


@pytest.mark.parametrize(
    ("old", "new", "first", "second", "kept", "wide"), WIDENINGS, ids=[w[1] for w in WIDENINGS]
)
def test_a_widening_evolves_the_table_in_place_and_old_rows_keep_their_values(
    meters, old, new, first, second, kept, wide
):
    write_registry(meters.sources_file, {"id": "long", "reading": old})
    land(meters, "meters/a.csv", f"id,reading\n1,{first}\n")
    assert ingest(meters, "r1").rows == 1
    snapshot_before = open_catalog(meters).load_table("raw.meters").current_snapshot().snapshot_id

    write_registry(meters.sources_file, {"id": "long", "reading": new})
    land(meters, "meters/b.csv", f"id,reading\n2,{second}\n")
    report = ingest(meters, "r2")

    assert report.rows == 1 and not report.quarantined and not report.rejected_rows
    assert report.schema_changes == [f"reading: {old} → {new}"]
    assert table_types(meters)["reading"] == new
    got = rows(meters)
    assert got[1]["reading"] == kept and got[2]["reading"] == wide
    # The same table, history and all: the row written before reads the same at its own snapshot.
    table = open_catalog(meters).load_table("raw.meters")
    old_rows = table.scan(snapshot_id=snapshot_before).to_arrow().to_pylist()
    assert [r["reading"] for r in old_rows] == [kept]


def test_a_newly_declared_column_is_added_before_the_lineage_columns(meters):
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,5\n")
    ingest(meters, "r1")
    write_registry(meters.sources_file, {"id": "long", "reading": "int", "unit": "string"})
    land(meters, "meters/b.csv", "id,reading,unit\n2,6,kWh\n")
    report = ingest(meters, "r2")
    assert report.schema_changes == ["unit: new column (string)"]
    assert report.new_columns == {}  # declared, not drift
    assert list(table_types(meters))[:4] == ["id", "reading", "unit", "_source_file"]
    got = rows(meters)
    assert got[1]["unit"] is None and got[2]["unit"] == "kWh"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("long", "int"),
        ("string", "long"),
        ("decimal(10,2)", "decimal(12,3)"),
        ("double", "float"),
        ("int", "double"),
    ],
)
def test_a_narrowing_is_reported_at_definitions_load_on_its_own_asset(meters, old, new):
    write_registry(meters.sources_file, {"id": "long", "reading": old})
    land(meters, "meters/a.csv", "id,reading\n1,5\n")
    ingest(meters, "r1")
    write_registry(meters.sources_file, {"id": "long", "reading": new})
    registry = load_registry(meters.sources_file)

    defs = raw.defs(registry, meters)  # what definitions.py calls: it loads, the asset is there

    [asset] = [a for a in defs.assets if a.key.path == ["raw", "meters"]]
    spec = asset.specs_by_key[asset.key]
    for words in (
        "meters",
        "'reading'",
        f"is {old} in the table",
        f"{new} in the registry",
        "foundation rebuild raw.meters",
    ):
        assert words in spec.description, spec.description
    assert "foundation rebuild raw.meters" in spec.metadata["schema_conflict"].value
    # A run stops before reading a file, with the same words; nothing is quarantined for it.
    land(meters, "meters/b.csv", "id,reading\n2,6\n")
    with pytest.raises(SchemaConflict, match="foundation rebuild raw.meters"):
        ingest(meters, "r2")
    assert table_types(meters)["reading"] == old


def test_definitions_load_without_touching_a_catalog_that_does_not_exist(meters):
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    defs = raw.defs(load_registry(meters.sources_file), meters)
    assert [a.key.path for a in defs.assets] == [["raw", "meters"]]
    assert not meters.data_dir.exists() or not any(meters.data_dir.rglob("*.db"))  # no catalog created


def test_iceberg_promotions_only():
    assert widens("int", "long") and widens("float", "double") and widens("decimal(9,2)", "decimal(18,2)")
    assert not widens("decimal(9,2)", "decimal(18,3)")  # pyiceberg 0.12 would allow it: the spec does not
    assert not widens("long", "int") and not widens("int", "double") and not widens("string", "long")
    assert not widens("date", "timestamp")


@pytest.fixture
def foundation(meters: Settings, monkeypatch: pytest.MonkeyPatch):
    """`foundation ...` in this process, on the test's settings; returns its exit code."""
    for name, value in meters.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return lambda *args: main(list(args))


def _messages(settings: Settings, scope: str) -> list[str]:
    return [q["message"] for q in read_quarantine(open_catalog(settings)).to_pylist() if q["scope"] == scope]


def test_a_decimal_scale_conflict_names_the_scale_and_the_rebuild_that_loads_the_row(meters, foundation):
    # The tester's report: 35.05 into decimal(18,1) suggested "a decimal with more precision (same
    # scale evolves in place)", which cannot hold it; the fix that works is decimal(18,2) and a rebuild.
    write_registry(meters.sources_file, {"id": "long", "price": "decimal(18,1)"})
    land(meters, "meters/a.csv", "id,price\n1,12.5\n2,35.05\n")
    assert len(ingest(meters, "r1").rejected_rows) == 1
    [message] = _messages(meters, "row")
    assert "declare datasets.meters.columns.price as decimal(18,2)" in message, message
    assert "`foundation rebuild raw.meters`" in message and "more precision" not in message
    assert "35.05" not in message  # no values in messages
    write_registry(meters.sources_file, {"id": "long", "price": "decimal(18,2)"})  # as the hint says
    assert foundation("rebuild", "raw.meters") == 0
    assert {i: r["price"] for i, r in rows(meters).items()} == {1: Decimal("12.5"), 2: Decimal("35.05")}


def test_a_decimal_too_short_for_its_digits_names_the_precision_and_retry_in_place(meters, foundation):
    write_registry(meters.sources_file, {"id": "long", "price": "decimal(5,1)"})
    land(meters, "meters/a.csv", "id,price\n1,123456.5\n2,98765.4\n")  # no row fits: quarantined whole
    assert len(ingest(meters, "r1").quarantined) == 1
    [message] = _messages(meters, "file")
    assert "declare datasets.meters.columns.price as decimal(7,1)" in message, message
    assert "`foundation retry meters` (decimal(5,1)→decimal(7,1) evolves the table in place)" in message
    assert "123456" not in message and "rebuild" not in message
    write_registry(meters.sources_file, {"id": "long", "price": "decimal(7,1)"})  # as the hint says
    assert foundation("retry", "meters") == 0
    assert {i: r["price"] for i, r in rows(meters).items()} == {1: Decimal("123456.5"), 2: Decimal("98765.4")}


HINTS = [
    # (declared, value, the fix named, the command)
    ("long", "high", "as string", "rebuild raw.meters"),
    ("long", "2.5", "as double", "rebuild raw.meters"),
    ("int", "3000000000", "as long", "retry meters"),
    ("long", "12345678901234567890123", "as decimal(23,0)", "rebuild raw.meters"),
    ("float", "1e39", "as double", "retry meters"),
    ("double", "n/a", "as string", "rebuild raw.meters"),
    ("decimal(10,2)", "1.5e3", "as double", "rebuild raw.meters"),
    ("boolean", "maybe", "as string", "rebuild raw.meters"),
    ("date", "31/12/2024", "formats.date: '%d/%m/%Y'", "retry meters"),
    ("date", "2024-12-31 10:00:00", "as timestamp", "rebuild raw.meters"),
    ("timestamp", "31.12.2024 10:00", "formats.timestamp: '%d.%m.%Y %H:%M'", "retry meters"),
    ("double", "3,25", "csv.decimal: ','", "retry meters"),
]


@pytest.mark.parametrize(
    ("declared", "value", "fix", "command"), HINTS, ids=[f"{h[0]}-{h[2]}" for h in HINTS]
)
def test_a_type_conflict_names_a_type_or_format_its_value_fits_and_the_command(
    meters, declared, value, fix, command
):
    write_registry(meters.sources_file, {"id": "long", "reading": declared})
    quoted = f'"{value}"' if "," in value else value
    land(meters, "meters/a.csv", f"id,reading\n1,{quoted}\n")
    assert len(ingest(meters, "r1").quarantined) == 1
    [message] = _messages(meters, "file")
    assert fix in message and f"`foundation {command}`" in message, message
    assert value not in message.replace(fix, "")
