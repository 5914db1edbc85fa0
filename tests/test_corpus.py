"""Bad-input corpus: every case in tests/corpus/cases.yml is ingested correctly, quarantined with a specific
reason, or skipped with the reason said; none crashes the run for the other files; no original is altered;
every row of a file is in raw or set apart in ops.quarantine; no value of a row reaches a message."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from dagster_project.landing.names import label
from dagster_project.landing.store import local_path
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.corpus.generators import GENERATORS
from tests.corpus.harness import (
    case_bytes,
    check_case,
    concurrent_runs,
    corpus_platform,
    land_case,
    land_file,
    merged_report,
    outcome_of,
    raw_rows,
    run_ingest,
    snapshot_of,
    uri_of,
)

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
    settings, registry = corpus_platform(tmp_path, case.get("settings"))
    dataset = registry[case["dataset"]]
    content = case_bytes(case)  # once: an encrypted PDF differs each time it is made
    key, others = land_case(settings, dataset, case, content=content)
    landing = local_path(settings.landing_uri)
    before = snapshot_of(landing)

    if case.get("concurrent"):
        reports = concurrent_runs(settings, dataset, case["concurrent"])
        report = merged_report(reports, key, uri_of(settings, key))
    else:
        report = run_ingest(settings, dataset, "corpus")

    assert snapshot_of(landing) == before, "an original in the landing zone changed"
    assert not (tmp_path / "pwned").exists()
    check_case(settings, dataset, report, key, content, case)
    for other in others:
        if other in [f"{dataset.prefix}{c['landing_name']}" for c in case.get("companions", [])]:
            continue
        if case.get("copies_are") == "duplicates":  # the same bytes as the case's file: skipped, recorded
            of = [d.duplicate_of for d in report.duplicates if d.source_file == uri_of(settings, other)]
            assert of == [uri_of(settings, key)], f"{other}: {report.duplicates}"
            continue
        check_case(
            settings, dataset, report, other, content, case
        )  # a copy: the same outcome by its own name
    if case.get("rerun"):
        again = run_ingest(settings, dataset, "corpus-again")
        for k in [key, *others]:
            ingested, quarantined, skipped = outcome_of(again, k, uri_of(settings, k))
            assert not ingested and not quarantined, f"{k} handled twice"
        assert not again.rejected_rows, "rows set apart twice"
        check_case(settings, dataset, report, key, content, case)  # raw and ops.quarantine unchanged


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
    settings, registry = corpus_platform(tmp_path, overrides)
    dataset = registry[dataset_name]
    name, good_content, good_rows = GOOD_FILES[dataset_name]
    good = f"{dataset.prefix}good/{name}"
    land_file(settings, good, good_content())
    landed: dict[str, dict] = {}
    for case in cases:
        key, others = land_case(settings, dataset, case, folder=f"{case['name']}/")
        landed.update({k: case for k in [key, *others]})
    landing = local_path(settings.landing_uri)
    before = snapshot_of(landing)

    # Cases often land the same bytes (good_three_rows.csv, ...); each must end as it says on its
    # own, not as a duplicate of another case's file (duplicates have cases of their own).
    report = run_ingest(settings, dataclasses.replace(dataset, duplicates="allow"), "corpus-all")

    assert snapshot_of(landing) == before, "an original in the landing zone changed"
    assert [f["rows"] for f in report.ingested if f["file"] == good] == [good_rows]
    assert len(raw_rows(settings, dataset, uri_of(settings, good))) == good_rows
    wrong = []
    for key, case in landed.items():
        ingested, quarantined, skipped = outcome_of(report, key, uri_of(settings, key))
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
