"""Bad-input corpus: every case in tests/corpus/cases.yml is ingested correctly, quarantined with a specific
reason, or skipped with the reason said; none crashes the run for the other files; no original is altered;
every row of a file is in raw or set apart in ops.quarantine; no value of a row reaches a message."""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from dagster_project.documents.config import load_documents_config
from dagster_project.documents.ingest import ingest_documents
from dagster_project.ingest.run import IngestReport, ingest_dataset
from dagster_project.lakehouse.ops import quarantine_table, read_quarantine
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from dagster_project.landing.names import label
from dagster_project.landing.store import local_path
from dagster_project.registry import Dataset, load_registry
from dagster_project.settings import PACKAGE_DIR, Settings
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.corpus.generators import GENERATORS

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict] = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))["cases"]
CATEGORIES = {
    "csv_dialect",  # how records are framed: CSV dialects, JSON-lines framing, Parquet structure
    "encoding",
    "types",
    "dates",
    "nesting",
    "size",
    "names",
    "links",
    "concurrency",
    "documents",
}
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
    "unsupported_format",  # documents only
    "bad_sidecar",
    "no_text",
}
ENTRIES = {"symlink_inside", "symlink_outside", "symlink_folder", "symlink_system_file", "dangling_symlink"}
ENTRIES |= {"symlink_loop", "fifo", "socket"}
MAX_COMMITTED_BYTES = 20_000
GOOD_TICKET = {"ticket_id": 9000, "customer_id": 1, "channel": "email", "priority": "low", "status": "open"}
GOOD_FILES = {  # one good file per dataset, landed beside the cases in the all-in-one runs
    "orders": ("good.csv", lambda: orders_csv(1000, 3).encode(), 3),
    "strict_orders": ("good.csv", lambda: orders_csv(1000, 3).encode(), 3),
    "semicolon_orders": ("good.csv", lambda: orders_csv(1000, 3).replace(",", ";").encode(), 3),
    "customers": ("good.csv", lambda: customers_csv(1000, 3).encode(), 3),
    "products": ("good.parquet", lambda: products_parquet(1000, 3), 3),
    "support_tickets": ("good.jsonl", lambda: (json.dumps(GOOD_TICKET) + "\n").encode(), 1),
    "measurements": ("good.csv", lambda: b"id,i,note\n9000,1,fine\n", 1),
    "measurements_json": ("good.jsonl", lambda: b'{"id": 9000, "i": 1, "note": "fine"}\n', 1),
    "documents": ("good.md", lambda: b"# Good\n\nReturns are accepted within thirty days.\n", 1),
}
DATASETS = set(GOOD_FILES)


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


def _platform(tmp_path: Path, overrides: dict | None = None) -> tuple[Settings, dict[str, Dataset]]:
    settings = Settings.for_data_dir(
        tmp_path / "data",
        sensor_min_file_age_seconds=0,
        sources_file=_registry_file(tmp_path),
        **(overrides or {}),
    )
    return settings, registry_of(settings)


def _ingest(settings: Settings, dataset: Dataset, run_id: str, before_commit=None) -> IngestReport:  # noqa: ANN001
    if dataset.name == "documents":
        return ingest_documents(settings, load_documents_config(settings.documents_file), run_id=run_id)
    return ingest_dataset(settings, dataset, run_id=run_id, before_commit=before_commit)


# --- landing a case ------------------------------------------------------------------------------


def _content(case: dict) -> bytes:
    if "generate" in case:
        return GENERATORS[case["generate"]]()
    if "file" in case:
        return (CORPUS / case["file"]).read_bytes()
    return b""


def _landing_name(case: dict) -> str:
    return case.get("landing_name") or Path(case.get("file") or case["name"]).name


def _land(settings: Settings, key: str, content: bytes) -> Path:
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
        target.write_bytes(_content(case))
        path.symlink_to(target.name)
    elif entry == "symlink_outside":
        (outside / path.name).write_bytes(_content(case))
        path.symlink_to(outside / path.name)
    elif entry == "symlink_folder":
        (outside / "folder").mkdir(exist_ok=True)
        (outside / "folder" / "inner.csv").write_bytes(_content(case))
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


def _land_case(
    settings: Settings, dataset: Dataset, case: dict, folder: str = "", content: bytes | None = None
) -> tuple[str, list[str]]:
    """Land a case (companions and copies beside it); returns its key and the other keys it landed."""
    key = f"{dataset.prefix}{folder}{_landing_name(case)}"
    if "entry" in case:
        _land_entry(settings, key, case, settings.data_dir.parent / f"outside_{case['name']}")
        return key, []
    content = _content(case) if content is None else content
    _land(settings, key, content)
    others = []
    for companion in case.get("companions", []):
        other = f"{dataset.prefix}{folder}{companion['landing_name']}"
        _land(settings, other, _content(companion))
        others.append(other)
    for copy in case.get("copies", []):  # the same bytes under another name
        other = f"{dataset.prefix}{folder}{copy}"
        _land(settings, other, content)
        others.append(other)
    return key, others


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
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


def _uri(settings: Settings, key: str) -> str:
    return (local_path(settings.landing_uri) / key).as_uri()


def _outcome(report: IngestReport, key: str, uri: str) -> tuple[list[dict], list, list[dict]]:
    ingested = [f for f in report.ingested if f["file"] == key]
    quarantined = [q for q in report.quarantined if q.source_file == uri]
    skipped = [s for s in report.skipped if s["file"] == label(key)]
    return ingested, quarantined, skipped


def _logged(settings: Settings, uri: str) -> list[dict]:
    """ops.quarantine's records of one landed file (whole-file and row records)."""
    return [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["source_file"] == uri]


def _raw_rows(settings: Settings, dataset: Dataset, uri: str) -> list[dict]:
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
    uri = _uri(settings, key)
    ingested, quarantined, skipped = _outcome(report, key, uri)
    assert not quarantined, f"{key} quarantined: {quarantined[0].reason}: {quarantined[0].message}"
    assert not skipped, f"{key} skipped: {skipped}"
    assert len(ingested) == 1, f"{key} not ingested: {report}"
    assert ingested[0]["rows"] == expect["ingested"], f"{key}: {ingested[0]['rows']} rows"
    if "columns_added" in expect:
        assert sorted(report.new_columns) == sorted(expect["columns_added"])
    rows = _raw_rows(settings, dataset, uri)
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
    uri = _uri(settings, key)
    ingested, quarantined, skipped = _outcome(report, key, uri)
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
    assert not _raw_rows(settings, registry_of(settings)[report.dataset], uri), "rows of a quarantined file"
    _check_no_values(settings, uri, report, expect)


def registry_of(settings: Settings) -> dict[str, Dataset]:
    """The datasets by name, and raw.documents as `documents`."""
    registry = {d.name: d for d in load_registry(settings.sources_file).datasets}
    registry["documents"] = load_documents_config(settings.documents_file).dataset()
    return registry


def _check_skipped(settings: Settings, dataset: Dataset, report: IngestReport, key: str, case: dict):
    """Never read: skipped with the reason, nothing quarantined, no row from it; a target inside lands."""
    expect = case["expect"]
    uri = _uri(settings, key)
    ingested, quarantined, skipped = _outcome(report, key, uri)
    assert not ingested and not quarantined, f"{key}: {ingested or quarantined[0].message}"
    assert len(skipped) == 1, f"{key}: skipped {skipped} (all: {report.skipped})"
    assert expect["skipped"] in skipped[0]["why"], skipped[0]
    assert _logged(settings, uri) == [] and _raw_rows(settings, dataset, uri) == []
    catalog = open_catalog(settings)
    if catalog.table_exists(dataset.table):
        everything = catalog.load_table(dataset.table).scan().to_arrow().to_pylist()
        target = _uri(settings, str(Path(key).with_name(f"target_{Path(key).name}")))
        assert len(everything) == sum(r["_source_file"] == target for r in everything), "rows from outside"
        assert len(everything) == expect.get("target_rows", 0)
    quarantine = local_path(settings.quarantine_uri)
    copied = [p for p in quarantine.rglob("*") if p.is_file()] if quarantine.exists() else []
    assert not [p for p in copied if "root:" in p.read_text(errors="replace")], "a system file was copied"
    _check_no_values(settings, uri, report, expect)


def _check(settings: Settings, dataset: Dataset, report: IngestReport, key: str, content: bytes, case: dict):
    expect = case["expect"]
    if "ingested" in expect:
        _check_ingested(settings, dataset, report, key, expect)
    elif "quarantined" in expect:
        _check_quarantined(settings, report, key, content, expect)
    elif "skipped" in expect:
        _check_skipped(settings, dataset, report, key, case)
    else:  # ignored: a writer's temporary name, or a name outside the dataset's glob
        uri = _uri(settings, key)
        assert _outcome(report, key, uri) == ([], [], []) and _logged(settings, uri) == []


def _concurrent_runs(settings: Settings, dataset: Dataset, runs: int) -> list[IngestReport]:
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
            reports[index] = _ingest(settings, dataset, f"corpus-{index}", before_commit)
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


def _merged(reports: list[IngestReport], key: str, uri: str) -> IngestReport:
    """The run that ingested (or a run that quarantined) the file; the others say why they did not.

    Both runs may find a file bad (ops.quarantine must still hold it once); only one may commit it.
    """
    ingesting = [r for r in reports if _outcome(r, key, uri)[0]]
    assert len(ingesting) <= 1, f"{key}: committed by {len(ingesting)} of {len(reports)} runs"
    doing = ingesting or [r for r in reports if _outcome(r, key, uri)[1]]
    assert doing, f"{key}: neither ingested nor quarantined by any run"
    for other in reports:
        if other is not doing[0] and not _outcome(other, key, uri)[1]:
            _, _, skipped = _outcome(other, key, uri)
            assert skipped and skipped[0]["why"], f"{key}: the other run neither did it nor said why"
    return doing[0]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c["name"],
            marks=[pytest.mark.xfail(reason=c["xfail"], strict=True, raises=AssertionError)]
            if c.get("xfail")
            else [],
        )
        for c in CASES
    ],
)
def test_case(case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # a name that ran as a shell command would leave ./pwned here
    settings, registry = _platform(tmp_path, case.get("settings"))
    dataset = registry[case["dataset"]]
    content = _content(case)  # once: an encrypted PDF differs each time it is made
    key, others = _land_case(settings, dataset, case, content=content)
    landing = local_path(settings.landing_uri)
    before = _snapshot(landing)

    if case.get("concurrent"):
        reports = _concurrent_runs(settings, dataset, case["concurrent"])
        report = _merged(reports, key, _uri(settings, key))
    else:
        report = _ingest(settings, dataset, "corpus")

    assert _snapshot(landing) == before, "an original in the landing zone changed"
    assert not (tmp_path / "pwned").exists()
    _check(settings, dataset, report, key, content, case)
    for other in others:
        if other in [f"{dataset.prefix}{c['landing_name']}" for c in case.get("companions", [])]:
            continue
        _check(settings, dataset, report, other, content, case)  # a copy: the same outcome by its own name
    if case.get("rerun"):
        again = _ingest(settings, dataset, "corpus-again")
        for k in [key, *others]:
            ingested, quarantined, skipped = _outcome(again, k, _uri(settings, k))
            assert not ingested and not quarantined, f"{k} handled twice"
        assert not again.rejected_rows, "rows set apart twice"
        _check(settings, dataset, report, key, content, case)  # raw and ops.quarantine unchanged


def _groups() -> list:
    """Cases that can share one run, by dataset and settings (concurrent and xfail cases run alone)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for case in CASES:
        if case.get("concurrent") or case.get("xfail"):
            continue
        settings = json.dumps(case.get("settings", {}), sort_keys=True)
        groups.setdefault((case["dataset"], settings), []).append(case)
    return [pytest.param(d, json.loads(s), cases, id=f"{d}-{s}") for (d, s), cases in sorted(groups.items())]


@pytest.mark.parametrize(("dataset_name", "overrides", "cases"), _groups())
def test_all_cases_in_one_run_with_a_good_file(
    dataset_name: str, overrides: dict, cases: list, tmp_path: Path
):
    """One run over every case of a dataset plus a good file: it does not raise, the good rows land, each
    case ends as it says (ingested with its rows, quarantined with its reason, skipped), no original
    changes."""
    settings, registry = _platform(tmp_path, overrides)
    dataset = registry[dataset_name]
    name, good_content, good_rows = GOOD_FILES[dataset_name]
    good = f"{dataset.prefix}good/{name}"
    _land(settings, good, good_content())
    landed: dict[str, dict] = {}
    for case in cases:
        key, others = _land_case(settings, dataset, case, folder=f"{case['name']}/")
        landed.update({k: case for k in [key, *others]})
    landing = local_path(settings.landing_uri)
    before = _snapshot(landing)

    report = _ingest(settings, dataset, "corpus-all")

    assert _snapshot(landing) == before, "an original in the landing zone changed"
    assert [f["rows"] for f in report.ingested if f["file"] == good] == [good_rows]
    assert len(_raw_rows(settings, dataset, _uri(settings, good))) == good_rows
    wrong = []
    for key, case in landed.items():
        ingested, quarantined, skipped = _outcome(report, key, _uri(settings, key))
        outcome = [("ingested", f["rows"]) for f in ingested] + [
            ("quarantined", q.reason) for q in quarantined
        ]
        outcome += [("skipped", s["why"]) for s in skipped]
        companion = key.rsplit("/", 1)[-1] in [c["landing_name"] for c in case.get("companions", [])]
        expect = case["expect"]
        kind = next((k for k in ("ingested", "quarantined", "skipped") if k in expect), "ignored")
        if companion or kind == "ignored":
            if [o for o in outcome if o[0] != "skipped" or kind != "ignored"] and not companion:
                wrong.append(f"{key}: {outcome}, expected to be ignored")
            continue
        if len(outcome) != 1:
            wrong.append(f"{key}: {outcome or 'neither ingested, quarantined nor skipped'}")
            continue
        if outcome[0][0] != kind or (kind != "skipped" and outcome[0][1] != expect[kind]):
            wrong.append(f"{key}: {outcome[0]}, expected {(kind, expect[kind])}")
        if quarantined and label(key) not in quarantined[0].message:
            wrong.append(f"{key}: message does not name the file: {quarantined[0].message}")
    assert not wrong, "\n".join(wrong)


def test_cases_file_covers_the_corpus():
    assert len(CASES) >= 54 + 75  # 54 before issue 13; it asks for at least 75 more
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    used: set[str] = set()
    for case in CASES:
        name = case["name"]
        assert case["dataset"] in DATASETS, name
        assert case.get("category") in CATEGORIES, f"{name}: category must be one of {sorted(CATEGORIES)}"
        assert case.get("why"), f"{name}: no 'why'"
        sources = [k for k in ("file", "generate") if k in case]
        if "entry" in case:
            assert case["entry"] in ENTRIES and len(sources) <= 1, name
        else:
            assert len(sources) == 1, f"{name}: exactly one of file/generate"
        if "generate" in case:
            assert case["generate"] in GENERATORS and case.get("landing_name"), name
        if "file" in case:
            used.add(case["file"])
        for companion in case.get("companions", []):
            assert ("file" in companion) != ("generate" in companion), f"{name}: companion file or generate"
            used.update([companion["file"]] if "file" in companion else [])
            assert companion.get("generate", "ok") == "ok" or companion["generate"] in GENERATORS, name
        expect = case["expect"]
        kinds = [k for k in ("ingested", "quarantined", "skipped", "ignored") if k in expect]
        assert len(kinds) == 1, f"{name}: exactly one of ingested/quarantined/skipped/ignored"
        assert "rejected" not in expect or "ingested" in expect, f"{name}: rejected rows of an ingested file"
        if "ingested" in expect:
            assert "rows" in expect, f"{name}: say how many records the file has (rows)"
        if "quarantined" in expect:
            assert expect["quarantined"] in REASONS, f"{name}: unknown reason {expect['quarantined']}"
        assert isinstance(case.get("xfail", ""), str), f"{name}: xfail must say what is wrong"
    files = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and p.name not in ("cases.yml", "datasets.yml")
    }
    assert files - used == set(), "corpus files no case uses"
    assert used - files == set(), "cases naming missing files"
    too_big = [f for f in files if (CORPUS / f).stat().st_size >= MAX_COMMITTED_BYTES]
    assert too_big == [], "generate big files at test time instead"
