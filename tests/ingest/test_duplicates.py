"""Content duplicates: the same bytes landed under another key are skipped and recorded, once.

A copy goes into raw once whatever its name; the skip is recorded in ops.quarantine (scope
'duplicate', never counted as quarantined) so that no later run examines it again, and it is shown
by the run's logs, its metadata and `foundation status`. `duplicates: allow` takes every copy.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_project.catch_up import catch_up, pending_work
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.ingest import ingest_documents
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import quarantined_versions, read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from dagster_project.status import table_status
from tests.conftest import customers_csv, land, orders_csv
from tests.servers.s3 import REGION


def _raw_rows(settings: Settings, table: str = "raw.orders") -> int:
    return open_catalog(settings).load_table(table).scan().to_arrow().num_rows


def _records(settings: Settings, scope: str) -> list[dict]:
    return [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["scope"] == scope]


def test_two_copies_landed_together_go_into_raw_once(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", orders_csv(1, 3))

    report = ingest_dataset(settings, registry["orders"], run_id="first")

    assert report.rows == 3 and [f["file"] for f in report.ingested] == ["orders/a.csv"]
    [duplicate] = report.duplicates
    assert duplicate.message.startswith("orders/b.csv: duplicate of orders/a.csv")
    assert "duplicates: allow" in duplicate.message  # the way out, for sources that re-deliver on purpose
    assert _raw_rows(settings) == 3
    # Recorded, but not as a quarantine: nothing is in the quarantine area and status keeps them apart.
    [record] = _records(settings, "duplicate")
    assert record["duplicate_of"].endswith("/orders/a.csv") and record["quarantine_file"] == ""
    assert not quarantined_versions(open_catalog(settings), "orders")
    status = table_status(settings)
    assert status["quarantine"] == [] and status["set_apart_rows"] == {}
    assert [d["message"] for d in status["duplicates"]] == [duplicate.message]

    again = ingest_dataset(settings, registry["orders"], run_id="second")
    assert again.rows == 0 and not again.duplicates
    assert {"file": "orders/b.csv", "why": "already recorded as a duplicate of orders/a.csv"} in again.skipped
    assert len(_records(settings, "duplicate")) == 1  # not recorded twice


def test_a_copy_landed_later_is_a_duplicate_and_new_bytes_under_its_key_a_new_version(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    ingest_dataset(settings, registry["orders"], run_id="first")
    land(settings, "orders/resent.csv", orders_csv(1, 3))

    later = ingest_dataset(settings, registry["orders"], run_id="later")
    assert later.rows == 0 and [d.source_file.rsplit("/", 1)[-1] for d in later.duplicates] == ["resent.csv"]

    land(settings, "orders/resent.csv", orders_csv(10, 2))  # the same key, new bytes
    fixed = ingest_dataset(settings, registry["orders"], run_id="fixed")
    assert fixed.rows == 2 and not fixed.duplicates and _raw_rows(settings) == 5


def test_a_copy_of_a_quarantined_file_is_a_duplicate_not_a_second_quarantine(settings, registry):
    bad = b""  # an empty file: quarantined whole
    land(settings, "orders/bad.csv", bad)
    land(settings, "orders/bad_again.csv", bad)

    report = ingest_dataset(settings, registry["orders"], run_id="first")

    assert len(report.quarantined) == 1 and report.quarantined[0].source_file.endswith("/bad.csv")
    assert [d.duplicate_of.rsplit("/", 1)[-1] for d in report.duplicates] == ["bad.csv"]
    assert len(table_status(settings)["quarantine"]) == 1


def test_allow_takes_every_copy(tmp_path):
    sources = tmp_path / "sources.yml"
    registry = yaml.safe_load(Settings.for_data_dir(tmp_path / "data").sources_file.read_text())
    registry["datasets"]["orders"]["duplicates"] = "allow"
    sources.write_text(yaml.safe_dump(registry, sort_keys=False))
    settings = Settings.for_data_dir(tmp_path / "data", sources_file=sources)
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", orders_csv(1, 3))

    report = ingest_dataset(settings, load_registry(sources)["orders"], run_id="allow")

    assert report.rows == 6 and not report.duplicates and _raw_rows(settings) == 6


def test_a_run_of_both_files_records_the_copy_in_metadata_and_logs_and_never_runs_it_again(settings):
    land(settings, "customers/a.csv", customers_csv(1, 3))
    land(settings, "customers/b.csv", customers_csv(1, 3))
    instance = dg.DagsterInstance.ephemeral()

    outcomes = catch_up(settings, instance)  # one run for both files, as a sensor would start it

    by_key = {o.key: o for o in outcomes}
    assert by_key["customers/a.csv"].rows == 3 and by_key["customers/b.csv"].duplicates == 1
    assert by_key["customers/b.csv"].rows == 0 and by_key["customers/b.csv"].success
    run = by_key["customers/b.csv"].run_id
    [materialization] = instance.fetch_materializations(dg.AssetKey(["raw", "customers"]), limit=1).records
    metadata = materialization.asset_materialization.metadata
    assert metadata["files_duplicate"].value == 1 and metadata["files_quarantined"].value == 0
    assert "| customers/b.csv | customers/a.csv |" in metadata["duplicates"].value
    logs = [e.user_message for e in instance.all_logs(run)]
    assert any("customers/b.csv: duplicate of customers/a.csv" in m for m in logs)
    assert pending_work(settings).files == []  # not examined again by the next catch-up


@pytest.mark.slow  # a moto_server
def test_on_an_s3_landing_zone_a_copy_is_a_duplicate(tmp_path, s3_server, s3_credentials):
    bucket = f"dups-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings = Settings.for_data_dir(
        tmp_path / "data",
        landing_uri=f"s3://{bucket}/landing",
        quarantine_uri=f"s3://{bucket}/quarantine",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region=REGION,
    )
    for key in ("orders/a.csv", "orders/copy of a.csv"):
        s3_server.client().put_object(Bucket=bucket, Key=f"landing/{key}", Body=orders_csv(1, 3).encode())

    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="s3")

    assert report.rows == 3
    assert [d.message.split(" (")[0] for d in report.duplicates] == [
        "orders/copy of a.csv: duplicate of orders/a.csv"
    ]


def test_documents_keep_every_copy_for_the_curated_layer_to_cluster(settings):
    config = load_documents_config(settings.documents_file)
    text = b"# Returns\n\nYou have 30 days to return an item.\n"
    land(settings, f"{config.prefix}returns.md", text)
    land(settings, f"{config.prefix}returns_copy.md", text)

    report = ingest_documents(settings, config, run_id="docs")

    assert len(report.ingested) == 2 and not report.duplicates
    assert _raw_rows(settings, "raw.documents") == 2


def test_status_prints_duplicates_apart_from_quarantine(settings, registry, capsys):
    from dagster_project.status import print_status

    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", orders_csv(1, 3))
    ingest_dataset(settings, registry["orders"], run_id="first")

    print_status(table_status(settings))

    out = capsys.readouterr().out
    assert "quarantined files: 0" in out
    assert "duplicates skipped, same bytes as a file handled before (ingested or quarantined): 1" in out
    assert "[orders] orders/b.csv: duplicate of orders/a.csv" in out
    assert Path(settings.landing_uri.removeprefix("file://"), "orders/b.csv").exists()  # left where it landed
