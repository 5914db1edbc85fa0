"""The handled-files manifest: a row per outcome, a backfill of older tables, right after a crash, and
no download of a version already handled (catch-up and the run itself decide from the listing)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from dagster_project import faults
from dagster_project.catch_up import pending_work
from dagster_project.defs.raw.sensors import _handled_versions
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables import handled_files
from dagster_project.lakehouse.ops_tables.handled_files import HANDLED_TABLE, handled_index
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.local import LocalLanding
from dagster_project.landing.zone import open_landing
from dagster_project.quality.suites import load_suite
from tests.conftest import customers_csv, land, orders_csv


def _manifest(settings) -> list[dict]:
    catalog = open_catalog(settings)
    if not catalog.table_exists(HANDLED_TABLE):
        return []
    return catalog.load_table(HANDLED_TABLE).scan().to_arrow().to_pylist()


def _outcomes(settings, dataset: str = "orders") -> dict[str, set[str]]:
    """Landing key → the outcomes the manifest records for it."""
    out: dict[str, set[str]] = {}
    for row in (r for r in _manifest(settings) if r["dataset"] == dataset):
        out.setdefault(row["source_file"].split("/landing/", 1)[-1], set()).add(row["outcome"])
    return out


def _listed(settings, dataset: str = "orders") -> set[tuple[str, str]]:
    return {(f.uri, f.version) for f in open_landing(settings).list(f"{dataset}/")}


def _suite(settings, registry):
    dataset = registry["orders"]
    return load_suite(dataset.table, {c.name: c.type for c in dataset.columns}, settings.expectations_dir)


@contextmanager
def _counting_fetches(monkeypatch):
    """Every key the landing zone hands out for reading (a download on S3), in order."""
    fetched: list[str] = []
    original = LocalLanding.fetch

    def fetch(self, file, scratch):  # noqa: ANN001, ANN202
        fetched.append(file.key)
        return original(self, file, scratch)

    monkeypatch.setattr(LocalLanding, "fetch", fetch)
    yield fetched


class Crash(BaseException):
    """The process dying at a crash point (escapes every `except Exception`)."""


def test_every_outcome_gets_a_manifest_row_and_the_sensor_skips_them_all(settings, registry):
    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(settings, registry["customers"], run_id="customers")
    land(settings, "orders/a.csv", orders_csv(1, 2))
    land(settings, "orders/copy.csv", orders_csv(1, 2))  # the same bytes as a.csv
    land(settings, "orders/bad.csv", orders_csv(3, 1).replace(".50", "x"))  # amount is no decimal
    ingest_dataset(settings, registry["orders"], run_id="first", suite=_suite(settings, registry))
    land(settings, "orders/negative.csv", orders_csv(10, 1).replace("10.50", "-10.50"))  # fails the audit
    report = ingest_dataset(settings, registry["orders"], run_id="held", suite=_suite(settings, registry))
    assert report.held_back

    assert _outcomes(settings) == {
        "orders/a.csv": {"published"},
        "orders/copy.csv": {"duplicate"},
        "orders/bad.csv": {"quarantined"},
        "orders/negative.csv": {"held"},
    }
    rows = {r["source_file"].rsplit("/", 1)[-1]: r for r in _manifest(settings) if r["dataset"] == "orders"}
    table = open_catalog(settings).load_table("raw.orders")
    assert rows["a.csv"]["snapshot_id"] == table.current_snapshot().snapshot_id
    assert rows["negative.csv"]["branch"] == "audit-held"
    assert _handled_versions(settings, registry["orders"]) == _listed(settings)
    assert pending_work(settings).files == []


def test_a_table_from_before_the_manifest_is_backfilled_once_from_its_summaries(
    settings, registry, monkeypatch
):
    land(settings, "orders/a.csv", orders_csv(1, 2))
    land(settings, "orders/bad.csv", orders_csv(3, 1).replace(".50", "x"))
    with monkeypatch.context() as old_code:  # the version before the manifest wrote none
        old_code.setattr(handled_files, "record_handled", lambda catalog, rows: 0)
        ingest_dataset(settings, registry["orders"], run_id="old")
    assert _manifest(settings) == []
    # Read from the summaries and ops.quarantine meanwhile: nothing is due again.
    assert _handled_versions(settings, registry["orders"]) == _listed(settings)

    assert pending_work(settings).files == []  # the first writer indexes the table
    assert _outcomes(settings) == {"orders/a.csv": {"published"}, "orders/bad.csv": {"quarantined"}}
    catalog = open_catalog(settings)
    table = catalog.load_table("raw.orders")
    assert handled_index(catalog, "orders", table).missing == []  # once: nothing left to backfill
    pending_work(settings)
    assert len(_manifest(settings)) == 2


def test_a_crash_between_the_data_commit_and_the_manifest_leaves_the_version_handled(
    settings, registry, monkeypatch
):
    land(settings, "orders/a.csv", orders_csv(1, 2))
    ingest_dataset(settings, registry["orders"], run_id="first")
    land(settings, "orders/b.csv", orders_csv(3, 2))

    def die(point: str) -> None:
        if point == "handled.before_append":
            raise Crash(point)

    remove = faults.install(die)
    try:
        with pytest.raises(Crash):
            ingest_dataset(settings, registry["orders"], run_id="crashed")
    finally:
        remove()
    assert "orders/b.csv" not in _outcomes(settings)  # committed, but not in the manifest

    # Right after the crash: the sensor, catch-up and the next run know b.csv is in the table.
    assert _handled_versions(settings, registry["orders"]) == _listed(settings)
    with _counting_fetches(monkeypatch) as fetched:
        assert pending_work(settings).files == []
        again = ingest_dataset(settings, registry["orders"], run_id="after")
    assert again.rows == 0 and fetched == []
    table = open_catalog(settings).load_table("raw.orders")
    assert table.scan().to_arrow().num_rows == 4  # b.csv once
    assert _outcomes(settings)["orders/b.csv"] == {"published"}  # recorded by the next writer


def test_catch_up_and_the_run_never_fetch_a_handled_version(settings, registry, monkeypatch):
    for i in range(3):
        land(settings, f"orders/{i}.csv", orders_csv(10 * i + 1, 2))
    ingest_dataset(settings, registry["orders"], run_id="first")
    land(settings, "orders/new.csv", orders_csv(100, 2))

    with _counting_fetches(monkeypatch) as fetched:
        assert pending_work(settings).files == [("orders", "orders/new.csv")]
        assert fetched == []  # decided from the listing: (key, landing version)
        report = ingest_dataset(settings, registry["orders"], run_id="second")
    assert fetched == ["orders/new.csv"]
    assert [f["file"] for f in report.ingested] == ["orders/new.csv"]
    assert {s["file"] for s in report.skipped} == {"orders/0.csv", "orders/1.csv", "orders/2.csv"}
    assert all(s["why"].startswith("already ingested (snapshot ") for s in report.skipped)


def test_a_touched_file_is_read_once_then_never_requested_again(settings, registry, monkeypatch):
    """A new landing version with the same bytes (touched, copied again without its modified time) is
    skipped by its checksum and recorded, the way its bytes were handled: no run is requested for it
    and nothing downloads it again, however many catch-ups follow."""
    import os

    paths = [
        land(settings, "orders/a.csv", orders_csv(1, 2)),
        land(settings, "orders/copy.csv", orders_csv(1, 2)),  # the same bytes as a.csv
        land(settings, "orders/bad.csv", orders_csv(3, 1).replace(".50", "x")),  # quarantined whole
    ]
    ingest_dataset(settings, registry["orders"], run_id="first")
    for path in paths:
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    with _counting_fetches(monkeypatch) as fetched:
        assert len(pending_work(settings).files) == 3  # new landing versions: read once, by their run
        report = ingest_dataset(settings, registry["orders"], run_id="touched")
        assert set(fetched) == {"orders/a.csv", "orders/bad.csv", "orders/copy.csv"}
        assert report.rows == 0 and report.duplicates == [] and report.quarantined == []
        whys = {s["file"]: s["why"] for s in report.skipped}
        assert whys["orders/a.csv"].startswith("already ingested (snapshot ")
        assert whys["orders/copy.csv"] == "already recorded as a duplicate of orders/a.csv"
        assert whys["orders/bad.csv"] == "already quarantined"

        fetched.clear()
        assert pending_work(settings).files == []
        assert _listed(settings) <= _handled_versions(settings, registry["orders"])  # the sensor's lookup
        assert ingest_dataset(settings, registry["orders"], run_id="again").skipped
        assert fetched == []
    assert _outcomes(settings) == {
        "orders/a.csv": {"published"},
        "orders/copy.csv": {"duplicate"},
        "orders/bad.csv": {"quarantined"},
    }
    table = open_catalog(settings).load_table("raw.orders")
    assert table.scan().to_arrow().num_rows == 2  # a.csv once


def test_the_same_bytes_at_a_deeper_key_of_the_same_zone_are_another_file(settings, registry):
    """`orders/backup/orders/a.csv` ends like `orders/a.csv`, but in the same landing zone it is another
    file: a duplicate of it, not the same file of a zone that moved (nor, under 'allow', handled)."""
    land(settings, "orders/backup/orders/a.csv", orders_csv(1, 3))
    ingest_dataset(settings, registry["orders"], run_id="first")
    land(settings, "orders/a.csv", orders_csv(1, 3))

    report = ingest_dataset(settings, registry["orders"], run_id="second")

    assert [d.source_file.rsplit("/landing/", 1)[-1] for d in report.duplicates] == ["orders/a.csv"]
    assert report.handled_again == []
    assert [s["file"] for s in report.skipped] == ["orders/backup/orders/a.csv"]
    assert _outcomes(settings)["orders/a.csv"] == {"duplicate"}


def test_a_touched_copy_of_a_held_file_waits_with_it_instead_of_making_a_second_hold(
    settings, registry, monkeypatch
):
    import os

    from dagster_project.lakehouse.held import held_batches, release
    from tests.conftest import customers_csv
    from tests.ingest.test_crash_points import NO_ORDER_ID, suite_of

    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(settings, registry["customers"], run_id="customers")
    path = land(settings, "orders/bad.csv", orders_csv(1, 2) + NO_ORDER_ID)
    suite = suite_of(settings, registry["orders"])
    ingest_dataset(settings, registry["orders"], run_id="held", suite=suite)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    assert pending_work(settings).files == [("orders", "orders/bad.csv")]  # a new version: read once
    report = ingest_dataset(settings, registry["orders"], run_id="touched", suite=suite)

    [skip] = report.skipped
    assert skip["why"].startswith("the same bytes are held back (snapshot ")
    table = open_catalog(settings).load_table("raw.orders")
    assert [b.branch for b in held_batches(table)] == ["audit-held"]  # not a second hold
    with _counting_fetches(monkeypatch) as fetched:
        assert pending_work(settings).files == []
    assert fetched == []
    # Released: both versions are on main, the rows once.
    release(table, "audit-held")
    assert pending_work(settings).files == []
    assert open_catalog(settings).load_table("raw.orders").scan().to_arrow().num_rows == 3


def test_a_run_of_the_held_version_itself_audits_it_again(settings, registry):
    from dagster_project.lakehouse.held import held_batches
    from tests.conftest import customers_csv
    from tests.ingest.test_crash_points import NO_ORDER_ID, suite_of

    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(settings, registry["customers"], run_id="customers")
    land(settings, "orders/bad.csv", orders_csv(1, 2) + NO_ORDER_ID)
    suite = suite_of(settings, registry["orders"])
    ingest_dataset(settings, registry["orders"], run_id="held", suite=suite)

    again = ingest_dataset(settings, registry["orders"], run_id="again", suite=suite)

    assert again.skipped == [] and again.held_back
    branches = {b.branch for b in held_batches(open_catalog(settings).load_table("raw.orders"))}
    assert "audit-again" in branches
