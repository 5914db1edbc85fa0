"""The registry's dialect, one option at a time: what each declaration makes land in the raw table.

Every test declares one dataset with one option set, lands a file written that way, and checks the
exact values in the Iceberg table, and that a value the declaration cannot read is set apart with a
reason (never rounded or guessed).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import json
import textwrap
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard

from dagster_project.errors import EnvironmentFailure
from dagster_project.ingest import decode
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import Dataset, load_registry
from dagster_project.settings import Settings
from tests.conftest import land

PEOPLE = {"id": "long", "name": "string"}


def _declare(tmp_path: Path, options: str = "", fmt: str = "csv", columns: dict | None = None) -> tuple:
    """Settings and a dataset `people` (prefix people/) declared with the given dialect YAML."""
    columns = columns or PEOPLE
    listed = "\n".join(f"      {name}: {{type: '{kind}'}}" for name, kind in columns.items())
    yaml = textwrap.dedent(
        f"""
        version: 1
        datasets:
          people:
            description: One row per person.
            owner: team:test
            landing: {{prefix: people/}}
            format: {fmt}
            primary_key: [id]
            columns:
        """
    )
    yaml += listed + "\n" + textwrap.indent(textwrap.dedent(options).strip(), "    ") + "\n"
    sources = tmp_path / "sources.yml"
    sources.write_text(yaml)
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, sources_file=sources)
    return settings, load_registry(sources)["people"]


def _ingest(settings: Settings, dataset: Dataset, key: str, content: str | bytes):
    land(settings, key, content)
    report = ingest_dataset(settings, dataset, run_id="r")
    catalog = open_catalog(settings)
    rows = catalog.load_table(dataset.table).scan().to_arrow().to_pylist() if report.ingested else []
    data = sorted(
        ({k: v for k, v in r.items() if not k.startswith("_")} for r in rows), key=lambda r: r["id"]
    )
    return report, data


def test_null_markers_are_read_as_null(tmp_path):
    settings, dataset = _declare(
        tmp_path, "csv: {null_markers: ['', 'NA', 'NULL', '-']}", columns={**PEOPLE, "age": "int"}
    )
    report, rows = _ingest(
        settings, dataset, "people/a.csv", 'id,name,age\n1,NA,NULL\n2,-,41\n3,,NA\n4,"NA",-\n5,N/A,7\n'
    )
    assert not report.rejected_rows and not report.quarantined
    assert [(r["id"], r["name"], r["age"]) for r in rows] == [
        (1, None, None),
        (2, None, 41),
        (3, None, None),
        (4, None, None),  # a marker is a marker, quoted or not
        (5, "N/A", 7),  # only the declared markers
    ]


def test_null_markers_without_the_empty_string_keep_empty_text(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {null_markers: [NA]}")
    _, rows = _ingest(settings, dataset, "people/a.csv", "id,name\n1,\n2,NA\n")
    assert [r["name"] for r in rows] == ["", None]


def test_quote_and_escape_characters(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {quote: \"'\", escape: '\\'}")
    _, rows = _ingest(settings, dataset, "people/a.csv", "id,name\n1,'O\\'Brien, Pat'\n2,\"plain\"\n")
    assert [r["name"] for r in rows] == ["O'Brien, Pat", '"plain"']


def test_no_header_takes_the_columns_in_declaration_order(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {header: false}")
    report, rows = _ingest(settings, dataset, "people/a.csv", "1,Ada\n2,id\n")
    assert not report.new_columns
    assert rows == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "id"}]  # line 1 is data, not a header


def test_no_header_with_a_missing_value_names_the_registry_not_a_header(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {header: false}")
    report, _ = _ingest(settings, dataset, "people/a.csv", "1,Ada\n2\n")
    [record] = report.quarantined
    assert record.line == 2 and "the 2 columns the registry declares" in record.message


def test_rows_to_skip_before_the_header(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {skip_rows: 2}", columns={**PEOPLE, "age": "int"})
    report, rows = _ingest(
        settings, dataset, "people/a.csv", "Report of people, 2024\nsep=,\nid,name,age\n1,Ada,36\n2,Bo,x\n"
    )
    assert rows == [{"id": 1, "name": "Ada", "age": 36}]
    [record] = report.rejected_rows
    assert record.line == 5 and record.column_name == "age"  # the line an editor shows


def test_comment_lines_are_not_data(tmp_path):
    settings, dataset = _declare(tmp_path, "csv: {comment: '#'}", columns={**PEOPLE, "age": "int"})
    report, rows = _ingest(
        settings, dataset, "people/a.csv", "# exported by the CRM\nid,name,age\n# a note\n1,Ada,36\n2,Bo,x\n"
    )
    assert rows == [{"id": 1, "name": "Ada", "age": 36}]
    [record] = report.rejected_rows
    assert record.line == 5 and record.column_name == "age"


def test_decimal_comma_with_semicolons(tmp_path):
    settings, dataset = _declare(
        tmp_path,
        "csv: {delimiter: ';', decimal: ','}",
        columns={"id": "long", "amount": "decimal(10,2)", "ratio": "double", "units": "long"},
    )
    report, rows = _ingest(
        settings,
        dataset,
        "people/a.csv",
        "id;amount;ratio;units\n1;1.234,56;0,5;1.000\n2;-7,1;1,5e3;12\n3;1.5;1;1\n4;1,999;1;1\n",
    )
    assert rows == [
        {"id": 1, "amount": Decimal("1234.56"), "ratio": 0.5, "units": 1000},
        {"id": 2, "amount": Decimal("-7.10"), "ratio": 1500.0, "units": 12},
    ]
    first, second = sorted(report.rejected_rows, key=lambda r: r.line)
    assert first.column_name == "amount" and "',' as the decimal point" in first.message  # '1.5' not guessed
    assert second.column_name == "amount" and "more than 2 decimal places" in second.message  # never rounded


def test_date_format(tmp_path):
    settings, dataset = _declare(
        tmp_path, "formats: {date: '%d/%m/%Y'}", columns={"id": "long", "born": "date"}
    )
    report, rows = _ingest(
        settings, dataset, "people/a.csv", "id,born\n1,03/02/2024\n2,2024-02-03\n3,30/02/2024\n4,\n"
    )
    assert rows == [{"id": 1, "born": date(2024, 2, 3)}, {"id": 4, "born": None}]
    assert len(report.rejected_rows) == 2
    for record in report.rejected_rows:
        assert record.column_name == "born" and "not a date in the declared format %d/%m/%Y" in record.message


def test_timestamp_format(tmp_path):
    settings, dataset = _declare(
        tmp_path, "formats: {timestamp: '%d/%m/%Y %H:%M'}", columns={"id": "long", "seen": "timestamp"}
    )
    report, rows = _ingest(
        settings, dataset, "people/a.csv", "id,seen\n1,01/11/2026 10:30\n2,2026-11-01 10:30:00\n"
    )
    assert rows == [{"id": 1, "seen": datetime(2026, 11, 1, 10, 30)}]
    [record] = report.rejected_rows
    assert "not a timestamp in the declared format %d/%m/%Y %H:%M" in record.message


def test_zone_of_naive_timestamps_stored_as_utc(tmp_path):
    settings, dataset = _declare(
        tmp_path,
        "formats: {timezone: Europe/Paris}",
        columns={"id": "long", "ts": "timestamp", "tz": "timestamptz"},
    )
    report, rows = _ingest(
        settings,
        dataset,
        "people/a.csv",
        "id,ts,tz\n"
        "1,2024-07-01 10:00:00,2024-01-15 10:00:00\n"  # summer +02:00, winter +01:00
        "2,2024-07-01 10:00:00+00:00,2024-07-01 10:00:00Z\n"  # an explicit offset wins
        "3,2024-03-31 02:30:00,\n"  # skipped by the clocks going forward
        "4,,2024-10-27 02:30:00\n",  # twice: the clocks went back
    )
    assert rows == [
        {"id": 1, "ts": datetime(2024, 7, 1, 8, 0), "tz": datetime(2024, 1, 15, 9, 0, tzinfo=UTC)},
        {"id": 2, "ts": datetime(2024, 7, 1, 10, 0), "tz": datetime(2024, 7, 1, 10, 0, tzinfo=UTC)},
    ]
    gap, twice = sorted(report.rejected_rows, key=lambda r: r.line)
    assert gap.column_name == "ts" and "does not exist in Europe/Paris" in gap.message
    assert twice.column_name == "tz" and "occurs twice in Europe/Paris" in twice.message


def test_zone_with_a_timestamp_format(tmp_path):
    settings, dataset = _declare(
        tmp_path,
        "formats: {timestamp: '%d/%m/%Y %H:%M', timezone: America/New_York}",
        columns={"id": "long", "tz": "timestamptz"},
    )
    _, rows = _ingest(settings, dataset, "people/a.csv", "id,tz\n1,01/07/2024 10:00\n")
    assert rows == [{"id": 1, "tz": datetime(2024, 7, 1, 14, 0, tzinfo=UTC)}]


TEXT = {
    "utf-8": "Zoë Ångström, café",
    "utf-16": "Zoë Ångström, café 日本",
    "latin-1": "Zoë Ångström, café",
    "cp1252": "Zoë “quoted” – café €",
}


@pytest.mark.parametrize("encoding", list(TEXT))
def test_declared_encoding_is_transcoded_not_quarantined(tmp_path, encoding):
    settings, dataset = _declare(tmp_path, f"encoding: {encoding}")
    content = f'id,name\r\n1,"{TEXT[encoding]}"\r\n'.encode("utf-16" if encoding == "utf-16" else encoding)
    if encoding == "utf-16":
        assert content.startswith(b"\xff\xfe")  # Python writes the byte order mark
    report, rows = _ingest(settings, dataset, "people/a.csv", content)
    assert not report.quarantined, report.quarantined
    assert rows == [{"id": 1, "name": TEXT[encoding]}]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_a_utf8_redelivery_of_a_single_byte_source_is_not_turned_into_mojibake(tmp_path, encoding):
    # The same rows delivered once in the declared encoding and once in UTF-8 (or once
    # gzip-compressed): the same text lands, never `ZoÃ«`.
    settings, dataset = _declare(tmp_path, f"encoding: {encoding}")
    _ingest(settings, dataset, "people/a.csv", "id,name\n1,Zoë Dupré\n".encode(encoding))
    _ingest(settings, dataset, "people/b.csv", "id,name\n2,Zoë Dupré\n".encode())
    _, rows = _ingest(settings, dataset, "people/c.csv.gz", gzip.compress("id,name\n3,Zoë Dupré\n".encode()))
    assert rows == [{"id": n, "name": "Zoë Dupré"} for n in (1, 2, 3)]


def test_utf16_big_endian_with_its_mark(tmp_path):
    settings, dataset = _declare(tmp_path, "encoding: utf-16")
    content = b"\xfe\xff" + "id,name\n1,Zoë\n".encode("utf-16-be")
    _, rows = _ingest(settings, dataset, "people/a.csv", content)
    assert rows == [{"id": 1, "name": "Zoë"}]


def test_bytes_not_in_the_declared_encoding_quarantine_the_file_naming_the_line(tmp_path):
    settings, dataset = _declare(tmp_path, "encoding: cp1252")
    report, _ = _ingest(settings, dataset, "people/a.csv", b"id,name\n1,ok\n2,bad \x81 byte\n")
    [record] = report.quarantined
    assert record.reason == "encoding" and record.line == 3
    assert "people/a.csv" in record.message and "encoding: cp1252" in record.message


def test_utf16_without_its_byte_order_mark_is_not_guessed(tmp_path):
    settings, dataset = _declare(tmp_path, "encoding: utf-16")
    report, _ = _ingest(settings, dataset, "people/a.csv", "id,name\n1,Zoë\n".encode("utf-16-le"))
    [record] = report.quarantined
    assert record.reason == "encoding" and "byte order mark" in record.message


def test_utf16_landed_without_a_declaration_names_the_registry_fix(tmp_path):
    settings, dataset = _declare(tmp_path)
    report, _ = _ingest(settings, dataset, "people/a.csv", "id,name\n1,Zoë\n".encode("utf-16"))
    [record] = report.quarantined
    assert record.reason == "encoding" and "encoding: utf-16" in record.message


COMPRESSORS = {
    "gz": gzip.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
    "bz2": bz2.compress,
}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_files_by_suffix_with_the_default_glob(tmp_path, suffix):
    settings, dataset = _declare(tmp_path)
    assert dataset.glob == "*.csv" and dataset.matches(f"people/a.csv.{suffix}")
    content = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(1, 1001))
    report, rows = _ingest(settings, dataset, f"people/a.csv.{suffix}", COMPRESSORS[suffix](content.encode()))
    assert [f["file"] for f in report.ingested] == [f"people/a.csv.{suffix}"]
    assert len(rows) == 1000 and rows[-1] == {"id": 1000, "name": "name 1000"}


def test_compression_none_leaves_compressed_names_unmatched(tmp_path):
    _, dataset = _declare(tmp_path, "compression: none")
    assert dataset.matches("people/a.csv") and not dataset.matches("people/a.csv.gz")


def test_declared_compression_whatever_the_name(tmp_path):
    settings, dataset = _declare(tmp_path, "compression: zstd")
    data = zstandard.ZstdCompressor().compress(b"id,name\n1,Ada\n") + zstandard.ZstdCompressor().compress(
        b"2,Bo\n"
    )  # two frames, as `zstd` writes for concatenated inputs
    _, rows = _ingest(settings, dataset, "people/a.csv", data)
    assert rows == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bo"}]


def test_compressed_and_encoded(tmp_path):
    settings, dataset = _declare(tmp_path, "encoding: latin-1")
    _, rows = _ingest(
        settings, dataset, "people/a.csv.gz", gzip.compress("id,name\n1,Zoë\n".encode("latin-1"))
    )
    assert rows == [{"id": 1, "name": "Zoë"}]


ROWS = ("id,name\n" + "".join(f"{i},name {i * 7919 % 10007}\n" for i in range(5000))).encode()
CORRUPT = {  # cut short in the middle, or not the data the suffix says
    "gz": gzip.compress(ROWS)[: len(gzip.compress(ROWS)) // 2],
    "zst": zstandard.ZstdCompressor().compress(ROWS)[: len(zstandard.ZstdCompressor().compress(ROWS)) // 2],
    "bz2": b"BZh91AY&SY not really bzip2",
}


@pytest.mark.parametrize("suffix", list(CORRUPT))
def test_corrupt_compressed_file_is_quarantined_naming_the_fix(tmp_path, suffix):
    settings, dataset = _declare(tmp_path)
    report, _ = _ingest(settings, dataset, f"people/a.csv.{suffix}", CORRUPT[suffix])
    [record] = report.quarantined
    assert record.reason == "unreadable" and f"people/a.csv.{suffix}" in record.message
    assert f"its name ends in .{suffix}" in record.message and "compression" in record.message


def test_gzip_bytes_under_a_plain_name_name_the_registry_fix(tmp_path):
    settings, dataset = _declare(tmp_path)
    report, _ = _ingest(settings, dataset, "people/a.csv", gzip.compress(b"id,name\n1,Ada\n"))
    [record] = report.quarantined
    assert record.reason == "unreadable" and "compression: gzip" in record.message


def test_record_limit_holds_for_the_decompressed_lines(tmp_path):
    sources_settings, dataset = _declare(tmp_path)
    settings = Settings.for_data_dir(
        tmp_path / "data", sensor_min_file_age_seconds=0, sources_file=sources_settings.sources_file,
        max_record_bytes=1000,
    )  # fmt: skip
    report, _ = _ingest(
        settings, dataset, "people/a.csv.gz", gzip.compress(b"id,name\n1,Ada\n2," + b"x" * 5000)
    )
    [record] = report.quarantined
    assert record.reason == "too_large" and record.line == 3


def test_decompression_streams_in_bounded_memory(tmp_path):
    """64 MiB of CSV behind a small gzip is decompressed chunk by chunk, never held whole."""
    _, dataset = _declare(tmp_path)
    row = b"1,a name that repeats\n"
    data = io.BytesIO()
    with gzip.GzipFile(fileobj=data, mode="wb") as packed:
        packed.write(b"id,name\n")
        for _ in range(64):
            packed.write(row * ((1 << 20) // len(row)))
    source = tmp_path / "big.csv.gz"
    source.write_bytes(data.getvalue())
    tracemalloc.start()
    try:
        with decode.decoded(dataset, source, "people/big.csv.gz", tmp_path / "scratch") as plain:
            peak = tracemalloc.get_traced_memory()[1]
            assert plain.stat().st_size > (63 << 20)
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak:,} bytes"
    assert not plain.exists()  # the decoded copy is removed with the block


def test_full_disk_while_decompressing_is_an_environment_failure(tmp_path, monkeypatch):
    settings, dataset = _declare(tmp_path)
    real_open = open

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # noqa: ANN001
            raise OSError(errno.ENOSPC, "No space left on device")

    def opener(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        return Full() if "w" in mode else real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(decode, "open", opener, raising=False)
    land(settings, "people/a.csv.gz", gzip.compress(b"id,name\n1,Ada\n"))
    with pytest.raises(EnvironmentFailure, match="people/a.csv.gz"):
        ingest_dataset(settings, dataset, run_id="r")
    monkeypatch.undo()
    report, rows = _ingest(settings, dataset, "people/a.csv.gz", gzip.compress(b"id,name\n1,Ada\n"))
    assert not report.quarantined and rows == [{"id": 1, "name": "Ada"}]  # nothing was quarantined


NESTED = [
    {"id": 1, "address": {"city": "Lyon", "geo": {"lat": 45.76}}, "tags": ["a", "b"]},
    {"id": 2, "address": {"city": "Nantes"}},
    {"id": 3, "address": None},
]


def test_json_nested_objects_flattened_into_columns(tmp_path):
    settings, dataset = _declare(
        tmp_path,
        "json: {nested: flatten}",
        fmt="jsonl",
        columns={"id": "long", "address_city": "string", "address_geo_lat": "double", "tags": "string"},
    )
    report, rows = _ingest(settings, dataset, "people/a.jsonl", "".join(json.dumps(r) + "\n" for r in NESTED))
    assert not report.new_columns and not report.rejected_rows
    assert rows == [
        {"id": 1, "address_city": "Lyon", "address_geo_lat": 45.76, "tags": '["a","b"]'},
        {"id": 2, "address_city": "Nantes", "address_geo_lat": None, "tags": None},
        {"id": 3, "address_city": None, "address_geo_lat": None, "tags": None},
    ]


def test_json_nested_undeclared_keys_flattened_become_new_columns(tmp_path):
    settings, dataset = _declare(tmp_path, "json: {nested: flatten}", fmt="jsonl", columns={"id": "long"})
    report, rows = _ingest(settings, dataset, "people/a.jsonl", "".join(json.dumps(r) + "\n" for r in NESTED))
    assert list(report.new_columns) == ["address_city", "address_geo_lat", "tags"]
    assert rows[0]["address_city"] == "Lyon"


def test_json_nested_kept_as_one_column_of_json_text(tmp_path):
    settings, dataset = _declare(
        tmp_path, "json: {nested: struct}", fmt="jsonl", columns={"id": "long", "address": "string"}
    )
    report, rows = _ingest(settings, dataset, "people/a.jsonl", "".join(json.dumps(r) + "\n" for r in NESTED))
    assert [r["address"] for r in rows] == ['{"city":"Lyon","geo":{"lat":45.76}}', '{"city":"Nantes"}', None]
    assert list(report.new_columns) == ["tags"]


def test_json_nested_null_is_missing_at_any_depth_not_the_text_null(tmp_path):
    # vega's cars: `{"performance": {"mpg": null}}` stored the text "null" in a text column and set
    # the row apart in a numeric one ("not a decimal number").
    settings, dataset = _declare(
        tmp_path,
        "json: {nested: flatten}",
        fmt="jsonl",
        columns={
            "id": "long",
            "label_text": "string",
            "performance_mpg": "decimal(5,1)",
            "performance_hp": "double",
            "performance_engine_cylinders": "long",
            "performance_engine_turbo": "boolean",
        },
    )
    records = [
        {
            "id": 1,
            "label": {"text": None},
            "performance": {"mpg": None, "hp": None, "engine": {"cylinders": None}},
        },
        {"id": 2, "label": {"text": "a"}, "performance": {"mpg": 18.5, "hp": 130, "engine": {"turbo": True}}},
    ]
    report, rows = _ingest(
        settings, dataset, "people/a.jsonl", "".join(json.dumps(r) + "\n" for r in records)
    )
    assert not report.rejected_rows and not report.new_columns
    assert rows == [
        {
            "id": 1,
            "label_text": None,
            "performance_mpg": None,
            "performance_hp": None,
            "performance_engine_cylinders": None,
            "performance_engine_turbo": None,
        },
        {
            "id": 2,
            "label_text": "a",
            "performance_mpg": Decimal("18.5"),
            "performance_hp": 130.0,
            "performance_engine_cylinders": None,
            "performance_engine_turbo": True,
        },
    ]


# Top-level and nested `v` hold the same JSON text: flattened, each must land as the top-level one does.
SAME_VALUES = [
    "null",
    "true",
    "false",
    "1.5e3",
    "-2E-2",
    '"a\\"b\\\\ \\n\\u00e9\\t"',
    "{}",
    "[]",
    "[null, {}]",
]


def test_json_nested_values_land_as_the_same_values_at_the_top_level(tmp_path):
    settings, dataset = _declare(tmp_path, "json: {nested: flatten}", fmt="jsonl", columns={"id": "long"})
    lines = "".join(
        f'{{"id": {i}, "v": {v}, "n": {{"v": {v}, "deep": {{"v": {v}}}}}}}\n'
        for i, v in enumerate(SAME_VALUES)
    )
    report, rows = _ingest(settings, dataset, "people/a.jsonl", lines)
    assert not report.rejected_rows
    assert [(r["n_v"], r["n_deep_v"]) for r in rows] == [(r["v"], r["v"]) for r in rows]
    assert [r["v"] for r in rows][:3] == [None, "true", "false"]
    assert rows[5]["v"] == 'a"b\\ \né\t'


def test_json_nested_null_kept_as_json_null_inside_a_struct_column(tmp_path):
    settings, dataset = _declare(
        tmp_path, "json: {nested: struct}", fmt="jsonl", columns={"id": "long", "address": "string"}
    )
    lines = (
        '{"id": 1, "address": {"city": null, "geo": {"lat": null}, "tags": [null]}}\n'
        '{"id": 2, "address": null}\n'
    )
    report, rows = _ingest(settings, dataset, "people/a.jsonl", lines)
    assert not report.rejected_rows
    assert [r["address"] for r in rows] == ['{"city":null,"geo":{"lat":null},"tags":[null]}', None]
