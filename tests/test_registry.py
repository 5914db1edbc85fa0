from pathlib import Path

import pytest

from dagster_project.registry import RegistryError, load_registry
from dagster_project.settings import PACKAGE_DIR


def test_sample_registry_declares_the_four_datasets():
    registry = load_registry(PACKAGE_DIR / "sources.yml")
    assert {"customers", "products", "orders", "support_tickets"} <= set(registry.names())
    orders = registry["orders"]
    assert orders.table == "raw.orders"
    assert orders.format == "csv"
    assert orders.primary_key == ("order_id",)
    assert orders.column("amount").type == "decimal(12,2)"
    assert registry["customers"].pii_columns == ("first_name", "last_name", "email", "phone")
    assert {d.format for d in registry} == {"csv", "jsonl", "parquet"}


def test_landing_matching_ignores_other_prefixes_and_temporaries():
    orders = load_registry(PACKAGE_DIR / "sources.yml")["orders"]
    assert orders.matches("orders/orders_2026-11-01.csv")
    assert orders.matches("orders/2026/11/orders.csv")
    assert not orders.matches("orders/orders.json")
    assert not orders.matches("orders/.orders.csv.part")
    assert not orders.matches("orders/_tmp.csv")
    assert not orders.matches("customers/orders.csv")


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yml"
    path.write_text(body)
    return path


GOOD = """
datasets:
  events:
    description: One row per event.
    owner: team:web
    landing: {prefix: events/, glob: "*.csv"}
    format: csv
    primary_key: [event_id]
    columns:
      event_id: {type: long}
      kind: string
"""


def test_adding_a_dataset_is_one_entry(tmp_path: Path):
    registry = load_registry(_write(tmp_path, GOOD))
    assert registry["events"].columns[1].type == "string"
    assert registry["events"].freshness_max_age_hours is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("format: csv", "format: xlsx"), "format must be one of csv, jsonl, parquet"),
        (("{type: long}", "{type: bigint}"), "unknown type 'bigint'"),
        (("primary_key: [event_id]", "primary_key: [id]"), "primary_key"),
        (("owner: team:web", "owner: someone"), "must be an email address or 'team:<name>'"),
        (("    description: One row per event.\n", ""), "missing required key(s): description"),
        (("kind: string", "kind: {type: string, pii: secret}"), "pii must be one of"),
        (("kind: string", "_kind: string"), "reserved for lineage"),
        (("format: csv", "format: csv\n    colour: blue"), "unknown key(s) ['colour']"),
    ],
)
def test_registry_errors_name_the_file_the_dataset_and_the_fix(tmp_path: Path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(RegistryError) as error:
        load_registry(path)
    assert str(path) in str(error.value)
    assert "datasets.events" in str(error.value)
    assert message in str(error.value)


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(RegistryError, match="FOUNDATION_SOURCES_FILE"):
        load_registry(tmp_path / "nope.yml")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(_write(tmp_path, "datasets: [\n"))


def test_two_datasets_cannot_share_a_prefix(tmp_path: Path):
    body = GOOD + GOOD.replace("datasets:\n", "").replace("  events:", "  events_copy:")
    with pytest.raises(RegistryError, match="already used by 'events'"):
        load_registry(_write(tmp_path, body))


@pytest.mark.parametrize(
    ("addition", "where", "message"),
    [
        (
            "csv: {delimter: ';'}",
            "datasets.events.csv",
            "unknown key(s) ['delimter']; allowed: comment, decimal,",
        ),
        ("csv: {header: 'no'}", "datasets.events.csv", "header must be true or false, got 'no'"),
        ("csv: {skip_rows: -1}", "datasets.events.csv", "skip_rows must be a whole number >= 0, got -1"),
        ("csv: {null_markers: [1]}", "datasets.events.csv", "null_markers must be a list of strings"),
        ("csv: {delimiter: ';;'}", "datasets.events.csv", "delimiter must be one character, got ';;'"),
        ("csv: {decimal: ','}", "datasets.events.csv", "a decimal comma needs another delimiter"),
        ("encoding: ebcdic", "datasets.events", "encoding must be one of utf-8, utf-16, latin-1, cp1252"),
        ("compression: rar", "datasets.events", "compression must be one of auto, none, gzip, zstd, bz2"),
        ("formats: {date: dd/mm}", "datasets.events.formats", "date must be a strftime format"),
        ("formats: {timezone: Mars/Base}", "datasets.events.formats", "'Mars/Base' is not an IANA zone"),
        ("json: {nested: flatten}", "datasets.events", "a json: block applies to format jsonl only"),
        ("duplicates: never", "datasets.events", "duplicates must be one of skip, allow, got 'never'"),
        ("freshness: {max_age_hours: 0}", "datasets.events", "freshness must be {max_age_hours: <positive"),
    ],
)
def test_dialect_errors_name_the_block_and_the_allowed_values(tmp_path: Path, addition, where, message):
    path = _write(tmp_path, GOOD.replace("format: csv", f"format: csv\n    {addition}"))
    with pytest.raises(RegistryError) as error:
        load_registry(path)
    assert str(error.value).startswith(f"{path}: {where}: ")
    assert message in str(error.value)


def test_dialect_shorthands_and_spellings_are_read(tmp_path: Path):
    extra = (
        "encoding: Latin1\n    compression: GZIP\n    csv: {null_markers: NA, decimal: ',', delimiter: ';'}"
    )
    dialect = load_registry(_write(tmp_path, GOOD.replace("format: csv", f"format: csv\n    {extra}")))[
        "events"
    ].dialect
    assert (dialect.encoding, dialect.compression, dialect.null_markers) == ("latin-1", "gzip", ("NA",))
    assert (dialect.decimal, dialect.delimiter, dialect.header) == (",", ";", True)
