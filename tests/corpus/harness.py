"""The corpus harness: a platform with the corpus's datasets, landing a case, checking its outcome.

tests/test_corpus.py runs the cases of tests/corpus/cases.yml with these.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import yaml

from dagster_project.documents.config import load_documents_config
from dagster_project.documents.ingest import ingest_documents
from dagster_project.ingest.run import IngestReport, ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import quarantine_table, read_quarantine
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from dagster_project.landing.names import label
from dagster_project.landing.store import local_path
from dagster_project.registry import Dataset, load_registry
from dagster_project.settings import PACKAGE_DIR, Settings
from tests.corpus.generators import GENERATORS

CORPUS = Path(__file__).parent


# --- the platform --------------------------------------------------------------------------------


def _registry_file(tmp_path: Path) -> Path:
    """The package's sources.yml plus the corpus's own datasets (every type, policies, dialects)."""
    merged = yaml.safe_load((PACKAGE_DIR / "sources.yml").read_text(encoding="utf-8"))
    merged["datasets"].update(
        yaml.safe_load((CORPUS / "datasets.yml").read_text(encoding="utf-8"))["datasets"]
    )
    path = tmp_path / "sources.yml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return path


def corpus_platform(tmp_path: Path, overrides: dict | None = None) -> tuple[Settings, dict[str, Dataset]]:
    """A fresh platform under `tmp_path` with the corpus's datasets and the case's settings."""
    settings = Settings.for_data_dir(
        tmp_path / "data",
        sensor_min_file_age_seconds=0,
        sources_file=_registry_file(tmp_path),
        **(overrides or {}),
    )
    return settings, registry_of(settings)


def run_ingest(settings: Settings, dataset: Dataset, run_id: str, before_commit=None) -> IngestReport:  # noqa: ANN001
    """One ingest run of a dataset (raw.documents through the documents ingest)."""
    if dataset.name == "documents":
        return ingest_documents(settings, load_documents_config(settings.documents_file), run_id=run_id)
    return ingest_dataset(settings, dataset, run_id=run_id, before_commit=before_commit)


# --- landing a case ------------------------------------------------------------------------------


def case_bytes(case: dict) -> bytes:
    """The bytes of a case (or a companion): its corpus file, or its generator's output."""
    if "generate" in case:
        return GENERATORS[case["generate"]]()
    if "file" in case:
        return (CORPUS / case["file"]).read_bytes()
    return b""


def _landing_name(case: dict) -> str:
    return case.get("landing_name") or Path(case.get("file") or case["name"]).name


def land_file(settings: Settings, key: str, content: bytes) -> Path:
    """Write `content` at `key` in the landing zone."""
    path = local_path(settings.landing_uri) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _land_entry(settings: Settings, key: str, case: dict, outside: Path) -> None:
    """Something that is not a regular file at `key`: a link (inside, outside, nowhere), a FIFO, a socket."""
    path = local_path(settings.landing_uri) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = case["entry"]
    outside.mkdir(parents=True, exist_ok=True)
    if entry == "symlink_inside":
        target = path.with_name(f"target_{path.name}")
        target.write_bytes(case_bytes(case))
        path.symlink_to(target.name)
    elif entry == "symlink_outside":
        (outside / path.name).write_bytes(case_bytes(case))
        path.symlink_to(outside / path.name)
    elif entry == "symlink_folder":
        (outside / "folder").mkdir(exist_ok=True)
        (outside / "folder" / "inner.csv").write_bytes(case_bytes(case))
        path.symlink_to(outside / "folder", target_is_directory=True)
    elif entry == "symlink_system_file":
        path.symlink_to("/etc/passwd")
    elif entry == "dangling_symlink":
        path.symlink_to(outside / "never-there.csv")
    elif entry == "symlink_loop":
        path.symlink_to(path.name)
    elif entry == "fifo":
        os.mkfifo(path)
    elif entry == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays
    else:
        raise AssertionError(f"unknown entry {entry!r}")


def land_case(
    settings: Settings, dataset: Dataset, case: dict, folder: str = "", content: bytes | None = None
) -> tuple[str, list[str]]:
    """Land a case (companions and copies beside it); returns its key and the other keys it landed."""
    key = f"{dataset.prefix}{folder}{_landing_name(case)}"
    if "entry" in case:
        _land_entry(settings, key, case, settings.data_dir.parent / f"outside_{case['name']}")
        return key, []
    content = case_bytes(case) if content is None else content
    land_file(settings, key, content)
    others = []
    for companion in case.get("companions", []):
        other = f"{dataset.prefix}{folder}{companion['landing_name']}"
        land_file(settings, other, case_bytes(companion))
        others.append(other)
    for copy in case.get("copies", []):  # the same bytes under another name
        other = f"{dataset.prefix}{folder}{copy}"
        land_file(settings, other, content)
        others.append(other)
    return key, others


def snapshot_of(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file under `root` with its bytes and modification time (links are not followed)."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# --- checking outcomes ---------------------------------------------------------------------------


def _plain(value):  # noqa: ANN001, ANN202
    """Table values in the form cases.yml writes them."""
    if isinstance(value, Decimal | datetime | date):
        return str(value)
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def uri_of(settings: Settings, key: str) -> str:
    """The landed file's URI, as `_source_file` and ops.quarantine name it."""
    return (local_path(settings.landing_uri) / key).as_uri()


def outcome_of(report: IngestReport, key: str, uri: str) -> tuple[list[dict], list, list[dict]]:
    """What a run did with one key: (ingested entries, quarantine records, skipped entries)."""
    ingested = [f for f in report.ingested if f["file"] == key]
    quarantined = [q for q in report.quarantined if q.source_file == uri]
    skipped = [s for s in report.skipped if s["file"] == label(key)]
    return ingested, quarantined, skipped


def _logged(settings: Settings, uri: str) -> list[dict]:
    """ops.quarantine's records of one landed file (whole-file and row records)."""
    return [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["source_file"] == uri]


def raw_rows(settings: Settings, dataset: Dataset, uri: str) -> list[dict]:
    """The rows of the dataset's raw table that came from one landed file."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(dataset.table):
        return []
    return [
        r for r in catalog.load_table(dataset.table).scan().to_arrow().to_pylist() if r["_source_file"] == uri
    ]


def _check_no_values(settings: Settings, uri: str, report: IngestReport, expect: dict) -> None:
    """Values planted in a case (`forbid`) never reach a message, a sidecar or ops.quarantine's errors."""
    texts = [json.dumps(report.skipped)]
    for record in _logged(settings, uri):
        texts.append(record["message"])
        if record["quarantine_file"]:
            texts.append(Path(f"{local_path(record['quarantine_file'])}.json").read_text(encoding="utf-8"))
    for value in expect.get("forbid", []):
        for text in texts:
            assert value not in text, f"{value!r} in {text!r}"


def _check_ingested(settings: Settings, dataset: Dataset, report: IngestReport, key: str, expect: dict):
    uri = uri_of(settings, key)
    ingested, quarantined, skipped = outcome_of(report, key, uri)
    assert not quarantined, f"{key} quarantined: {quarantined[0].reason}: {quarantined[0].message}"
    assert not skipped, f"{key} skipped: {skipped}"
    assert len(ingested) == 1, f"{key} not ingested: {report}"
    assert ingested[0]["rows"] == expect["ingested"], f"{key}: {ingested[0]['rows']} rows"
    if "columns_added" in expect:
        assert sorted(report.new_columns) == sorted(expect["columns_added"])
    rows = raw_rows(settings, dataset, uri)
    assert len(rows) == expect["ingested"]
    # Every row of the file is in raw or, set apart with its reason, in ops.quarantine.
    logged = _logged(settings, uri)
    assert not [r for r in logged if r["scope"] == "file"], "ingested and quarantined whole"
    rejected = sorted((r for r in logged if r["scope"] == "row"), key=lambda r: r["line"] or 0)
    wanted = expect.get("rejected", [])
    assert len(rejected) == len(wanted), [r["message"] for r in rejected]
    assert len({r["record_id"] for r in rejected}) == len(rejected), "a row recorded twice"
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
    _check_no_values(settings, uri, report, expect)
    pk = dataset.primary_key[0]
    rows.sort(key=lambda r: (r[pk] is None, r[pk]))
    for column, values in expect.get("values", {}).items():
        assert [_plain(r[column]) for r in rows] == values, column
    for column, fragments in expect.get("contains", {}).items():
        for fragment in fragments:
            assert all(fragment in (r[column] or "") for r in rows), f"{fragment!r} not in {column}"
    for column, fragments in expect.get("lacks", {}).items():
        for fragment in fragments:
            assert not any(fragment in (r[column] or "") for r in rows), f"{fragment!r} in {column}"


def _check_quarantined(settings: Settings, report: IngestReport, key: str, content: bytes, expect: dict):
    uri = uri_of(settings, key)
    ingested, quarantined, skipped = outcome_of(report, key, uri)
    assert not ingested, f"{key} ingested ({ingested[0]['rows']} rows), expected {expect['quarantined']}"
    assert not skipped, f"{key} skipped: {skipped}"
    assert len(quarantined) == 1, f"{key}: {len(quarantined)} quarantine records"
    record = quarantined[0]
    assert record.reason == expect["quarantined"], f"{record.reason}: {record.message}"
    assert label(key) in record.message, record.message
    assert len(record.message) < 2000, f"message of {len(record.message)} characters"
    assert "Possible fixes" not in record.message and "state machine" not in record.message, record.message
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
    assert [r["reason"] for r in logged] == [record.reason], "a file recorded twice, or rows besides it"
    assert not raw_rows(settings, registry_of(settings)[report.dataset], uri), "rows of a quarantined file"
    _check_no_values(settings, uri, report, expect)


def registry_of(settings: Settings) -> dict[str, Dataset]:
    """The datasets by name, and raw.documents as `documents`."""
    registry = {d.name: d for d in load_registry(settings.sources_file).datasets}
    registry["documents"] = load_documents_config(settings.documents_file).dataset()
    return registry


def _check_skipped(settings: Settings, dataset: Dataset, report: IngestReport, key: str, case: dict):
    """Never read: skipped with the reason, nothing quarantined, no row from it; a target inside lands."""
    expect = case["expect"]
    uri = uri_of(settings, key)
    ingested, quarantined, skipped = outcome_of(report, key, uri)
    assert not ingested and not quarantined, f"{key}: {ingested or quarantined[0].message}"
    assert len(skipped) == 1, f"{key}: skipped {skipped} (all: {report.skipped})"
    assert expect["skipped"] in skipped[0]["why"], skipped[0]
    assert _logged(settings, uri) == [] and raw_rows(settings, dataset, uri) == []
    catalog = open_catalog(settings)
    if catalog.table_exists(dataset.table):
        everything = catalog.load_table(dataset.table).scan().to_arrow().to_pylist()
        target = uri_of(settings, str(Path(key).with_name(f"target_{Path(key).name}")))
        assert len(everything) == sum(r["_source_file"] == target for r in everything), "rows from outside"
        assert len(everything) == expect.get("target_rows", 0)
    quarantine = local_path(settings.quarantine_uri)
    copied = [p for p in quarantine.rglob("*") if p.is_file()] if quarantine.exists() else []
    assert not [p for p in copied if "root:" in p.read_text(errors="replace")], "a system file was copied"
    _check_no_values(settings, uri, report, expect)


def check_case(
    settings: Settings, dataset: Dataset, report: IngestReport, key: str, content: bytes, case: dict
):
    expect = case["expect"]
    if "ingested" in expect:
        _check_ingested(settings, dataset, report, key, expect)
    elif "quarantined" in expect:
        _check_quarantined(settings, report, key, content, expect)
    elif "skipped" in expect:
        _check_skipped(settings, dataset, report, key, case)
    else:  # ignored: a writer's temporary name, or a name outside the dataset's glob
        uri = uri_of(settings, key)
        assert outcome_of(report, key, uri) == ([], [], []) and _logged(settings, uri) == []


def concurrent_runs(settings: Settings, dataset: Dataset, runs: int) -> list[IngestReport]:
    """`runs` ingests of the same landed files at once; both convert, then meet right before committing.

    The catalog, the namespaces and the tables exist beforehand: two runs creating them at once on a
    fresh platform is another race (pyiceberg's SQL catalog), not this one.
    """
    catalog = open_catalog(settings)
    ensure_raw_table(catalog, dataset)
    quarantine_table(catalog)
    meet = threading.Barrier(runs)
    waited = threading.local()

    def before_commit() -> None:
        if not getattr(waited, "done", False):
            waited.done = True
            try:
                meet.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass  # the other run had nothing to commit

    reports: list[IngestReport | BaseException] = [None] * runs  # type: ignore[list-item]

    def run(index: int) -> None:
        try:
            reports[index] = run_ingest(settings, dataset, f"corpus-{index}", before_commit)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the run it came from
            reports[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    failed = [r for r in reports if not isinstance(r, IngestReport)]
    assert not failed, f"a concurrent run failed: {failed}"
    return reports  # type: ignore[return-value]


def merged_report(reports: list[IngestReport], key: str, uri: str) -> IngestReport:
    """The run that ingested (or a run that quarantined) the file; the others say why they did not.

    Both runs may find a file bad (ops.quarantine must still hold it once); only one may commit it.
    """
    ingesting = [r for r in reports if outcome_of(r, key, uri)[0]]
    assert len(ingesting) <= 1, f"{key}: committed by {len(ingesting)} of {len(reports)} runs"
    doing = ingesting or [r for r in reports if outcome_of(r, key, uri)[1]]
    assert doing, f"{key}: neither ingested nor quarantined by any run"
    for other in reports:
        if other is not doing[0] and not outcome_of(other, key, uri)[1]:
            _, _, skipped = outcome_of(other, key, uri)
            assert skipped and skipped[0]["why"], f"{key}: the other run neither did it nor said why"
    return doing[0]
