"""Any legal file name works: listed, read, ingested, labelled and quarantined."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.names import NAME_MAX, label
from dagster_project.landing.store import LandedFile, local_path, quarantine_key
from dagster_project.landing.zone import open_landing, open_quarantine
from tests.conftest import land, orders_csv

LATIN1 = os.fsdecode(b"caf\xe9-latin1.csv")  # not UTF-8: a surrogate escape in the str
# Every kind of legal name: spaces, URI and glob characters, quotes, a newline, a leading dash,
# unicode, bytes that are not UTF-8, a backslash, and the longest name ext4 allows (255 bytes).
ODD_NAMES = [
    "with space.csv",
    "hash#1.csv",
    "percent%41.csv",
    "question?.csv",
    "star*.csv",
    "bracket[1].csv",
    "quotes'\".csv",
    "new\nline.csv",
    "-leading-dash.csv",
    "ünïcødé-日本語.csv",
    LATIN1,
    "back\\slash.csv",
    "l" * (NAME_MAX - 4) + ".csv",
]


def test_label_escapes_what_cannot_be_shown_and_keeps_the_rest():
    assert label("orders/ünïcødé #1 'q'.csv") == "orders/ünïcødé #1 'q'.csv"
    assert label("orders/new\nline\t.csv") == "orders/new\\x0aline\\x09.csv"
    assert label("orders/" + LATIN1) == "orders/caf\\xe9-latin1.csv"
    assert label("orders/evil\u202egnp.exe") == "orders/evil\\u202egnp.exe"  # a bidi override
    assert label(LATIN1).encode("utf-8")  # valid UTF-8 whatever the name
    file = LandedFile(mtime_ns=0, key="orders/a\nb.csv", uri="file:///x", size=0)
    assert file.label == "orders/a\\x0ab.csv"


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("x" * 400 + ".csv.gz", ".csv.gz"),
        ("é" * 200 + ".csv", "é.csv"),
        ("b\n\x00" + LATIN1, ".csv"),
    ],
)
def test_quarantine_keys_fit_every_store(name, suffix):
    key = quarantine_key("orders", "0123456789abcdef" * 4, f"orders/{name}")

    dataset, base = key.split("/")
    assert dataset == "orders" and base.startswith("0123456789ab-")
    assert len(f"{base}.json".encode()) <= NAME_MAX  # the sidecar's name fits too
    assert base.isprintable() and base.encode("utf-8")
    assert base.endswith(suffix)  # a long name is cut in the middle


def test_long_names_that_differ_only_in_the_middle_get_different_quarantine_keys():
    checksum = "f" * 64
    first = quarantine_key("orders", checksum, "orders/" + "a" * 200 + "1" + "a" * 200 + ".csv")
    second = quarantine_key("orders", checksum, "orders/" + "a" * 200 + "2" + "a" * 200 + ".csv")
    assert first != second


def test_every_legal_name_is_listed_stated_fetched_and_ingested(settings, registry, tmp_path):
    keys = []
    for index, name in enumerate(ODD_NAMES):
        keys.append(f"orders/{name}")
        land(settings, keys[-1], orders_csv(index * 10 + 1, 2))
    landing = open_landing(settings)

    listed = {f.key: f for f in landing.list("orders/")}
    assert sorted(listed) == sorted(keys)
    for key in keys:
        assert landing.stat(key) == listed[key]
        assert local_path(listed[key].uri) == Path(settings.landing_uri.removeprefix("file://")) / key
        with landing.fetch(listed[key], tmp_path / "scratch") as (path, _):
            assert path.read_text() == orders_csv(keys.index(key) * 10 + 1, 2)

    report = ingest_dataset(settings, registry["orders"], run_id="odd", keys=keys)

    assert sorted(f["file"] for f in report.ingested) == sorted(keys)
    assert report.quarantined == [] and report.skipped == []
    rows = open_catalog(settings).load_table("raw.orders").scan().to_arrow()
    assert rows.num_rows == 2 * len(keys)
    assert {local_path(uri) for uri in rows["_source_file"].to_pylist()} == {
        local_path(listed[k].uri) for k in keys
    }


def test_a_file_with_a_250_byte_name_is_quarantined_with_its_sidecar(settings, registry):
    name = "q" * 246 + ".csv"
    land(settings, f"orders/{name}", b"")  # empty: quarantined

    report = ingest_dataset(settings, registry["orders"], run_id="long")

    (record,) = report.quarantined
    copy = local_path(record.quarantine_file)
    assert copy.exists() and copy.read_bytes() == b""
    assert json.loads(Path(f"{copy}.json").read_text())["landing_key"] == f"orders/{name}"
    assert copy.name.endswith(".csv") and len(f"{copy.name}.json".encode()) <= NAME_MAX
    assert read_quarantine(open_catalog(settings))["source_file"].to_pylist() == [record.source_file]


def test_the_quarantine_takes_any_key_quarantine_key_makes(settings, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_bytes(b"x")
    quarantine = open_quarantine(settings)
    for name in ODD_NAMES + ["é" * 127 + ".csv"]:
        key = quarantine_key("orders", "ab" * 32, f"orders/{name}")
        uri = quarantine.put(key, source, json.dumps({"landing_key": label(name)}))
        assert local_path(uri).read_bytes() == b"x"
        assert json.loads(Path(f"{local_path(uri)}.json").read_text()) == {"landing_key": label(name)}


def test_odd_names_are_quarantined_and_audited_by_their_label(settings, registry):
    from dagster_project.lakehouse.ops_tables.audit import read_audit_log

    broken, good = f"orders/{LATIN1}\n.csv", f"orders/good {LATIN1}"
    land(settings, broken, b"")  # empty: quarantined
    land(settings, good, orders_csv(1, 1))

    report = ingest_dataset(settings, registry["orders"], run_id="labels", keys=[broken, good])

    (record,) = report.quarantined
    assert label(broken) in record.message and "\n" not in record.message
    sidecar = json.loads(Path(f"{local_path(record.quarantine_file)}.json").read_text())
    assert sidecar["landing_key"] == label(broken)
    catalog = open_catalog(settings)
    assert read_quarantine(catalog)["message"].to_pylist() == [record.message]
    statements = read_audit_log(catalog)["statement"].to_pylist()
    assert any(label(good) in s for s in statements)
