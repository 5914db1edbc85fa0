"""Many small files of one header are converted together; any problem sends the group the per-file way."""

from __future__ import annotations

import json

import pytest

from dagster_project.ingest import run
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.handled_files import HANDLED_TABLE
from dagster_project.lakehouse.ops_tables.quarantine import quarantined_versions
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import ORDERS_HEADER, land, orders_csv

BAD_ROW = "9999,1,1,not-a-number,1.50,EUR,placed,2026-11-01 10:00:00"


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many files each fast-lane call was given and took (0: it sent the group the per-file way)."""
    taken: list[int] = []
    real = run.convert_group

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = real(*args, **kwargs)
        taken.append(len(result) if result else 0)
        return result

    monkeypatch.setattr(run, "convert_group", counted)
    return taken


def _platform(tmp_path, name: str, files: dict[str, str]) -> Settings:
    settings = Settings.for_data_dir(tmp_path / name, sensor_min_file_age_seconds=0)
    for key, content in files.items():
        land(settings, key, content)
    return settings


def _raw(settings: Settings) -> list[dict]:
    table = open_catalog(settings).load_table("raw.orders")
    rows = table.scan().to_arrow().drop_columns(["_ingested_at", "_run_id"]).to_pylist()
    return sorted(rows, key=lambda r: r["order_id"])


def _summary_files(settings: Settings) -> set[tuple[str, str]]:
    snapshot = open_catalog(settings).load_table("raw.orders").current_snapshot()
    return {tuple(pair) for pair in json.loads(snapshot.summary.additional_properties["foundation.files"])}


def test_a_group_lands_the_same_rows_and_lineage_as_the_per_file_way(tmp_path, groups, monkeypatch):
    files = {f"orders/f{i}.csv": orders_csv(i * 10, 10) for i in range(6)}
    together = _platform(tmp_path, "together", files)
    one_by_one = _platform(tmp_path, "one", files)
    registry = load_registry(together.sources_file)
    fast = ingest_dataset(together, registry["orders"], run_id="r1")
    assert groups == [6]
    monkeypatch.setattr(run, "convert_group", lambda *a, **k: None)
    slow = ingest_dataset(one_by_one, registry["orders"], run_id="r1")

    assert len(fast.ingested) == len(slow.ingested) == 6
    fast_rows, slow_rows = _raw(together), _raw(one_by_one)
    assert len(fast_rows) == 60
    root = lambda s: s.landing_uri.rstrip("/")  # noqa: E731
    for row in fast_rows:
        row["_source_file"] = row["_source_file"].removeprefix(root(together))
    for row in slow_rows:
        row["_source_file"] = row["_source_file"].removeprefix(root(one_by_one))
    assert fast_rows == slow_rows
    table = open_catalog(together).load_table("raw.orders")
    assert table.schema() == open_catalog(one_by_one).load_table("raw.orders").schema()
    # Each landed file version is its own data file and its own identity in the commit.
    assert len(list(table.scan().plan_files())) == 6
    assert {uri for uri, _ in _summary_files(together)} == {f"{root(together)}/{k}" for k in files}
    # The handled-files manifest has a row per file version, with its landing version.
    manifest = open_catalog(together).load_table(HANDLED_TABLE).scan().to_arrow().to_pylist()
    by_file = {r["source_file"]: r for r in manifest if r["dataset"] == "orders"}
    assert set(by_file) == {f"{root(together)}/{k}" for k in files}
    assert all(r["landing_version"] and r["outcome"] == "published" for r in by_file.values())
    # ...and taken once: a second run finds all six handled.
    again = ingest_dataset(together, registry["orders"], run_id="r2")
    assert not again.ingested and len(again.skipped) == 6


def test_a_bad_row_sends_the_group_the_per_file_way_and_only_that_row_is_quarantined(tmp_path, groups):
    files = {f"orders/f{i}.csv": orders_csv(i * 10, 10) for i in range(4)}
    files["orders/f2.csv"] = orders_csv(20, 3) + BAD_ROW + "\n" + orders_csv(23, 7).split("\n", 1)[1]
    settings = _platform(tmp_path, "bad", files)
    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r1")
    assert groups == [0]
    assert len(report.ingested) == 4 and report.rows == 40
    [record] = report.rejected_rows
    assert record.source_file.endswith("/orders/f2.csv")
    assert (record.line, record.column_name) == (5, "quantity")
    assert len(_raw(settings)) == 40


def test_files_with_another_header_go_the_per_file_way(tmp_path, groups):
    files = {f"orders/f{i}.csv": orders_csv(i * 10, 10) for i in range(3)}
    reordered = ORDERS_HEADER.split(",")[::-1]
    files["orders/f3.csv"] = (
        ",".join(reordered) + "\n" + ",".join(orders_csv(30, 1).splitlines()[1].split(",")[::-1]) + "\n"
    )
    files["orders/f4.csv"] = orders_csv(40, 2, extra_header="gift_note", extra_value="hi")
    settings = _platform(tmp_path, "mixed", files)
    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r1")
    assert groups == [0]
    assert len(report.ingested) == 5 and report.rows == 33
    assert report.new_columns == {"gift_note": "string"}
    assert not report.quarantined and not quarantined_versions(open_catalog(settings), "orders")


def test_two_files_with_the_same_bytes_go_the_per_file_way_which_records_the_duplicate(tmp_path, groups):
    files = {f"orders/f{i}.csv": orders_csv(i * 10, 10) for i in range(3)}
    files["orders/f3.csv"] = files["orders/f0.csv"]
    settings = _platform(tmp_path, "dup", files)
    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r1")
    assert groups == []  # never converted together
    assert len(report.ingested) == 3 and report.rows == 30
    [duplicate] = report.duplicates
    assert duplicate.source_file.endswith("/orders/f3.csv")


@pytest.mark.parametrize("fast", [True, False], ids=["fast lane", "per file"])
def test_a_file_that_landed_later_in_the_same_batch_is_ingested_later(tmp_path, groups, monkeypatch, fast):
    """One commit gives a batch's files one sequence number: `_ingested_at` keeps their landing order,
    which the staging models' `latest_version` reads (a corrected re-delivery beats the original)."""
    import os

    # The re-delivery's name sorts before the original's ('-' < '.'), and it landed a minute later.
    files = {"orders/2026-01.csv": orders_csv(1, 3), "orders/2026-01-corrected.csv": orders_csv(1, 3)}
    files["orders/2026-01-corrected.csv"] = files["orders/2026-01-corrected.csv"].replace("EUR", "USD")
    settings = _platform(tmp_path, "order", files)
    landing = settings.landing_uri.removeprefix("file://")
    for minute, key in enumerate(files):
        os.utime(f"{landing}/{key}", (1_780_000_000 + 60 * minute,) * 2)
    if not fast:
        monkeypatch.setattr(run, "convert_group", lambda *a, **k: None)
    ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r1")
    assert groups == ([2] if fast else [])
    rows = open_catalog(settings).load_table("raw.orders").scan().to_arrow().to_pylist()
    at = {r["_source_file"].rsplit("/", 1)[1]: r["_ingested_at"] for r in rows}
    assert at["2026-01.csv"] < at["2026-01-corrected.csv"]


def test_progress_counts_the_whole_batch_through_the_fast_lane_and_after_it(tmp_path, monkeypatch):
    import logging
    import os

    monkeypatch.setattr("dagster_project.ingest.fast_lane.MAX_GROUP_FILES", 10)
    files = {f"orders/o{i:02d}.csv": "" if i == 21 else orders_csv(1 + 10 * i, 2) for i in range(25)}
    settings = _platform(tmp_path, "p", files)
    for i, key in enumerate(files):  # landing order: the empty file is the 22nd
        os.utime(tmp_path / "p" / "landing" / key, (1_780_000_000 + i,) * 2)
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("test.progress")
    log.setLevel(logging.INFO)
    log.addHandler(Lines())
    ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r", log=log)

    progress = [line for line in lines if line.startswith("[")]
    assert progress[:2] == [
        "[10/25] raw.orders: 10 file(s) converted together",
        "[20/25] raw.orders: 10 file(s) converted together",
    ]
    # The group holding the empty file goes the per-file way, counted on from 20, not from 1.
    assert progress[2:] == [
        "[21/25] orders/o20.csv: 2 rows staged",
        "[24/25] orders/o23.csv: 2 rows staged",
        "[25/25] orders/o24.csv: 2 rows staged",
    ]
