"""Bad-input corpus: every case in tests/corpus/cases.yml is ingested correctly or quarantined with a
specific reason; none crashes the run for the other files; no original file is altered."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dagster_project.ingest.run import IngestReport, ingest_dataset
from dagster_project.lakehouse.ops import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.names import label
from dagster_project.landing.store import local_path
from dagster_project.registry import Dataset, load_registry
from dagster_project.settings import Settings
from tests.conftest import ORDERS_HEADER, orders_csv

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict] = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))["cases"]
REASONS = {
    "empty",
    "no_rows",
    "encoding",
    "type_conflict",
    "unreadable",
    "schema_mismatch",
    "duplicate_columns",
    "too_large",
    "too_many_columns",
}
DATASETS = {"orders", "customers", "products", "support_tickets"}
MAX_COMMITTED_BYTES = 20_000
TEN_MB = 10 * 1024 * 1024


def _ten_mb_single_line() -> bytes:
    return b"A" * TEN_MB  # no newline at all


def _ten_mb_row() -> bytes:
    row = "1,1,1,1,10.50,EUR," + "x" * TEN_MB + ",2026-11-01 10:00:00\n"
    return (ORDERS_HEADER + "\n" + row).encode()


def _truncated_parquet() -> bytes:
    ids = pa.array(range(200), pa.int64())
    table = pa.table({"product_id": ids, "sku": [f"SKU-{i}" for i in range(200)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    valid = buffer.getvalue()
    return valid[: len(valid) // 2]


GENERATORS = {
    "ten_mb_single_line": _ten_mb_single_line,
    "ten_mb_row": _ten_mb_row,
    "truncated_parquet": _truncated_parquet,
}


def _params(cases: list[dict]) -> list:
    params = []
    for case in cases:
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(reason=case["xfail"], strict=True, raises=AssertionError))
        params.append(pytest.param(case, id=case["name"], marks=marks))
    return params


def _content(case: dict) -> bytes:
    if "generate" in case:
        return GENERATORS[case["generate"]]()
    return (CORPUS / case["file"]).read_bytes()


def _landing_name(case: dict) -> str:
    return case.get("landing_name") or Path(case["file"]).name


def _land(settings: Settings, key: str, content: bytes) -> Path:
    path = local_path(settings.landing_uri) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _land_case(settings: Settings, dataset: Dataset, case: dict, folder: str = "") -> tuple[str, list[str]]:
    """Land a case (and its companions) under the dataset's prefix; returns its key and the companions'."""
    key = f"{dataset.prefix}{folder}{_landing_name(case)}"
    _land(settings, key, _content(case))
    companions = []
    for companion in case.get("companions", []):
        companion_key = f"{dataset.prefix}{folder}{companion['landing_name']}"
        _land(settings, companion_key, (CORPUS / companion["file"]).read_bytes())
        companions.append(companion_key)
    return key, companions


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` with its bytes and modification time."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _platform(tmp_path: Path) -> tuple[Settings, dict]:
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0)
    return settings, load_registry(settings.sources_file)


def _plain(value):
    """Table values in the form cases.yml writes them."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return str(value)
    return value


def _outcome(report: IngestReport, key: str, uri: str) -> tuple[list[dict], list]:
    ingested = [f for f in report.ingested if f["file"] == key]
    quarantined = [q for q in report.quarantined if q.source_file == uri]
    return ingested, quarantined


def _logged(settings: Settings, uri: str) -> list[dict]:
    """ops.quarantine's records of one landed file (whole-file and row records)."""
    return [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["source_file"] == uri]


def _check_no_values(settings: Settings, uri: str, expect: dict) -> None:
    """Values planted in a case (`forbid`) never reach a message, a sidecar or ops.quarantine's errors."""
    for record in _logged(settings, uri):
        sidecar = ""
        if record["quarantine_file"]:
            sidecar = Path(f"{local_path(record['quarantine_file'])}.json").read_text(encoding="utf-8")
        for value in expect.get("forbid", []):
            assert value not in record["message"], f"{value!r} in {record['message']!r}"
            assert value not in sidecar, f"{value!r} in the sidecar"


def _check_ingested(settings: Settings, dataset: Dataset, report: IngestReport, key: str, expect: dict):
    uri = (local_path(settings.landing_uri) / key).as_uri()
    ingested, quarantined = _outcome(report, key, uri)
    assert not quarantined, f"{key} quarantined: {quarantined[0].reason}: {quarantined[0].message}"
    assert len(ingested) == 1, f"{key} not ingested: {report}"
    assert ingested[0]["rows"] == expect["ingested"], f"{key}: {ingested[0]['rows']} rows"
    if "columns_added" in expect:
        assert sorted(report.new_columns) == sorted(expect["columns_added"])
    rows = [
        r
        for r in open_catalog(settings).load_table(dataset.table).scan().to_arrow().to_pylist()
        if r["_source_file"] == uri
    ]
    assert len(rows) == expect["ingested"]
    assert {local_path(r["_source_file"]) for r in rows} == {local_path(settings.landing_uri) / key}
    # Every row of the file is in raw or, set apart with its reason, in ops.quarantine.
    rejected = sorted(
        (r for r in _logged(settings, uri) if r["scope"] == "row"), key=lambda r: r["line"] or 0
    )
    wanted = expect.get("rejected", [])
    assert len(rejected) == len(wanted), [r["message"] for r in rejected]
    if "rows" in expect:
        assert len(rows) + len(rejected) == expect["rows"], "rows lost or duplicated"
    for record, want in zip(rejected, wanted, strict=True):
        assert record["reason"] == want.get("reason", "type_conflict"), record["message"]
        assert label(key) in record["message"] and record["row_data"], record
        if "line" in want:
            assert record["line"] == want["line"], record["message"]
        if "column" in want:
            assert record["column_name"] == want["column"], record["message"]
        for fragment in want.get("message_contains", []):
            assert fragment in record["message"], f"{fragment!r} not in {record['message']!r}"
    _check_no_values(settings, uri, expect)
    pk = dataset.primary_key[0]
    rows.sort(key=lambda r: (r[pk] is None, r[pk]))
    for column, values in expect.get("values", {}).items():
        assert [_plain(r[column]) for r in rows] == values, column


def _check_quarantined(settings: Settings, report: IngestReport, key: str, content: bytes, expect: dict):
    uri = (local_path(settings.landing_uri) / key).as_uri()
    ingested, quarantined = _outcome(report, key, uri)
    assert not ingested, f"{key} ingested ({ingested[0]['rows']} rows), expected {expect['quarantined']}"
    assert len(quarantined) == 1, f"{key}: {len(quarantined)} quarantine records"
    record = quarantined[0]
    assert record.reason == expect["quarantined"], f"{record.reason}: {record.message}"
    assert label(key) in record.message, record.message
    assert len(record.message) < 2000, f"message of {len(record.message)} characters"
    if "line" in expect:
        assert record.line == expect["line"], record.message
    if "column" in expect:
        assert record.column_name == expect["column"], record.message
    for fragment in expect.get("message_contains", []):
        assert fragment in record.message, f"{fragment!r} not in {record.message!r}"
    copy = local_path(record.quarantine_file)
    assert copy.read_bytes() == content
    sidecar = json.loads(Path(f"{copy}.json").read_text(encoding="utf-8"))
    assert sidecar["reason"] == record.reason and sidecar["landing_key"] == label(key)
    assert sidecar["message"] == record.message
    logged = _logged(settings, uri)
    assert [r["reason"] for r in logged] == [record.reason]
    _check_no_values(settings, uri, expect)


@pytest.mark.parametrize("case", _params(CASES))
def test_case(case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # a name that ran as a shell command would leave ./pwned here
    settings, registry = _platform(tmp_path)
    dataset = registry[case["dataset"]]
    key, _ = _land_case(settings, dataset, case)
    landing = local_path(settings.landing_uri)
    before = _snapshot(landing)

    report = ingest_dataset(settings, dataset, run_id="corpus")

    assert _snapshot(landing) == before, "an original in the landing zone changed"
    assert not (tmp_path / "pwned").exists()
    expect = case["expect"]
    if "ingested" in expect:
        _check_ingested(settings, dataset, report, key, expect)
    else:
        _check_quarantined(settings, report, key, before[key][0], expect)


def test_all_orders_cases_in_one_run_with_a_good_file(tmp_path: Path):
    """One run over every orders case plus a good file: it does not raise, the good rows land, each bad
    file ends as its case says (xfail cases: at least ingested or quarantined), no original changes."""
    settings, registry = _platform(tmp_path)
    dataset = registry["orders"]
    good = "orders/good/good.csv"
    _land(settings, good, orders_csv(1000, 3).encode())
    landed: dict[str, dict] = {}
    companions: list[str] = []
    for case in CASES:
        if case["dataset"] == "orders":
            key, extra = _land_case(settings, dataset, case, folder=f"{case['name']}/")
            landed[key] = case
            companions += extra
    landing = local_path(settings.landing_uri)
    before = _snapshot(landing)

    report = ingest_dataset(settings, dataset, run_id="corpus-all")

    assert _snapshot(landing) == before, "an original in the landing zone changed"
    assert report.skipped == []
    assert [f["rows"] for f in report.ingested if f["file"] == good] == [3]
    table = open_catalog(settings).load_table(dataset.table).scan().to_arrow().to_pylist()
    assert sum(r["_source_file"] == (landing / good).as_uri() for r in table) == 3
    wrong = []
    for key in [*landed, *companions]:
        ingested, quarantined = _outcome(report, key, (landing / key).as_uri())
        outcome = [("ingested", f["rows"]) for f in ingested]
        outcome += [("quarantined", q.reason) for q in quarantined]
        if len(outcome) != 1:
            wrong.append(f"{key}: {outcome or 'neither ingested nor quarantined'}")
            continue
        case = landed.get(key)
        if case is None or case.get("xfail"):
            continue
        expect = case["expect"]
        kind = "ingested" if "ingested" in expect else "quarantined"
        wanted = (kind, expect[kind])
        if outcome[0] != wanted:
            wrong.append(f"{key}: {outcome[0]}, expected {wanted}")
        if quarantined and label(key) not in quarantined[0].message:
            wrong.append(f"{key}: message does not name the file: {quarantined[0].message}")
    assert not wrong, "\n".join(wrong)


def test_cases_file_covers_the_corpus():
    assert len(CASES) >= 30
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    used: set[str] = set()
    for case in CASES:
        name = case["name"]
        assert case["dataset"] in DATASETS, name
        assert case.get("why"), f"{name}: no 'why'"
        assert ("file" in case) != ("generate" in case), f"{name}: exactly one of file/generate"
        if "generate" in case:
            assert case["generate"] in GENERATORS and case.get("landing_name"), name
        else:
            used.add(case["file"])
        used.update(c["file"] for c in case.get("companions", []))
        expect = case["expect"]
        assert ("ingested" in expect) != ("quarantined" in expect), f"{name}: ingested or quarantined"
        assert "rejected" not in expect or "ingested" in expect, f"{name}: rejected rows of an ingested file"
        if "quarantined" in expect:
            assert expect["quarantined"] in REASONS, f"{name}: unknown reason {expect['quarantined']}"
        assert isinstance(case.get("xfail", ""), str), f"{name}: xfail must say what is wrong"
    files = {
        p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file() and p.name != "cases.yml"
    }
    assert files - used == set(), "corpus files no case uses"
    assert used - files == set(), "cases naming missing files"
    too_big = [f for f in files if (CORPUS / f).stat().st_size >= MAX_COMMITTED_BYTES]
    assert too_big == [], "generate big files at test time instead"
