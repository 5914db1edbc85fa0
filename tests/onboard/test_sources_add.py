"""`foundation sources add`: landed files become a registry entry, a starter suite and a staging model."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dagster_project.cli import main
from dagster_project.onboard import infer
from dagster_project.onboard.add import apply, plan_source
from dagster_project.onboard.dbt_sources import SOURCES_FILE, render_dbt_sources
from dagster_project.quality.suites import parse_suite
from dagster_project.registry import LINEAGE_COLUMNS, load_registry
from dagster_project.settings import DBT_PROJECT_DIR, PACKAGE_DIR, PROJECT_DIR, Settings


@pytest.fixture
def project(tmp_path: Path) -> tuple[Settings, Path]:
    """Copies of the registry, the suites and the dbt project: a test never edits the repository's."""
    shutil.copy(PACKAGE_DIR / "sources.yml", tmp_path / "sources.yml")
    shutil.copytree(PROJECT_DIR / "expectations", tmp_path / "expectations")
    shutil.copytree(
        DBT_PROJECT_DIR, tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target", "logs")
    )
    settings = Settings.for_data_dir(
        tmp_path / "data", sources_file=tmp_path / "sources.yml", expectations_dir=tmp_path / "expectations"
    )
    return settings, tmp_path / "dbt_project"


def land(settings: Settings, key: str, data: bytes) -> None:
    path = Path(settings.landing_uri.removeprefix("file://")) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "data" not in p.relative_to(root).parts
    }


def _readings(settings: Settings) -> None:
    """Sensor readings: NA for missing values, a key of two columns, a gzip file, a Latin-1 re-delivery."""
    header = "Site ID,Sensor,Reading Date,Value,Status,Contact Email\n"
    rows = [
        f"{site},{sensor},2024-03-0{site},{site * 10 + i},{'ok' if i % 2 else 'late'},s{site}@example.org\n"
        for site in (1, 2, 3)
        for i, sensor in enumerate(("t1", "t2", "h1"))
    ]
    rows[1] = "1,t2,2024-03-01,NA,ok,NA\n"
    land(settings, "readings/2024-03-01.csv", (header + "".join(rows[:5])).encode())
    land(settings, "readings/2024-03-02.csv.gz", gzip.compress((header + "".join(rows[5:])).encode()))
    # The later file has a fraction where the first ones had whole numbers, and Latin-1 text.
    land(
        settings,
        "readings/2024-03-03.csv",
        (header + "4,t1,2024-03-04,2.5,ok,zoé@example.org\n").encode("latin-1"),
    )


def test_csv_with_na_markers_a_composite_key_gzip_and_latin1(project, monkeypatch):
    settings, dbt = project
    _readings(settings)
    monkeypatch.setattr(infer, "SAMPLE_FILES", 2)  # the third file is seen by the full pass only
    before = settings.sources_file.read_text()
    plan = plan_source(settings, "readings", "readings/", dbt_project_dir=dbt)
    apply(plan)

    text = settings.sources_file.read_text()
    assert text.startswith(before)  # every other entry and comment is kept byte for byte
    assert "# TODO review" in text
    dataset = load_registry(settings.sources_file)["readings"]
    assert dataset.format == "csv" and dataset.glob == "*.csv"
    assert dataset.dialect.encoding == "latin-1"
    assert dataset.dialect.null_markers == ("", "NA")
    assert {c.name: c.type for c in dataset.columns} == {
        "site_id": "long",
        "sensor": "string",
        "reading_date": "date",
        "value": "decimal(18,1)",
        "status": "string",
        "contact_email": "string",
    }
    assert dataset.primary_key == ("site_id", "sensor")
    assert dataset.pii_columns == ("contact_email",)
    assert dataset.column("contact_email").pii == "email"
    assert dataset.partition_column == "reading_date"
    assert dataset.owner == "team:unassigned"
    assert any("value: long from the sample, widened to decimal(18,1)" in n for n in plan.inferred.notes)
    assert any("latin-1" in n for n in plan.inferred.notes)

    suite_file = settings.expectations_dir / "raw.readings.json"
    suite = parse_suite(suite_file, {c.name for c in dataset.columns} | set(LINEAGE_COLUMNS), "raw.readings")
    kinds = {(e.type, e.column) for e in suite.expectations}
    assert {
        ("expect_column_values_to_not_be_null", "site_id"),
        ("expect_column_values_to_not_be_null", "sensor"),
    } <= kinds
    assert ("expect_column_values_to_be_between", "value") in kinds
    assert ("expect_column_values_to_be_in_set", "status") in kinds
    assert any(
        "site_id" in json.dumps(e.kwargs) and "sensor" in json.dumps(e.kwargs)
        for e in suite.expectations
        if e.dimension == "uniqueness"
    )
    assert all(e.description.startswith("TODO review") for e in suite.expectations)
    value_range = next(e for e in suite.expectations if e.column == "value")
    assert value_range.kwargs["min_value"] <= 2.5 and value_range.kwargs["max_value"] >= 32

    sql = (dbt / "models/staging/stg_readings.sql").read_text()
    assert "{{ latest_version(['site_id', 'sensor']) }}" in sql
    assert "{{ config(unique_key=['site_id', 'sensor']) }}" in sql
    assert "email_hash('contact_email')" in sql
    model = yaml.safe_load((dbt / "models/staging/stg_readings.yml").read_text())["models"][0]
    assert model["description"].startswith("One row per site_id and sensor")
    assert model["data_tests"] == [
        {"unique_combination_of_columns": {"arguments": {"combination_of_columns": ["site_id", "sensor"]}}}
    ]
    assert (dbt / SOURCES_FILE).read_text() == render_dbt_sources(load_registry(settings.sources_file))


def test_jsonl_with_nested_records_and_parquet_with_nanosecond_timestamps(project):
    settings, dbt = project
    tickets = [
        {
            "ticket": i,
            "customer": {"email": f"c{i}@example.com", "tier": "gold" if i % 2 else "free"},
            "amount": JsonRaw(f"{i}.50"),
            "opened_at": f"2024-01-0{i}T10:00:00+02:00",
        }
        for i in range(1, 6)
    ]
    land(settings, "tickets/t.jsonl", "\n".join(_json(t) for t in tickets).encode() + b"\n")
    apply(plan_source(settings, "tickets", "tickets", dbt_project_dir=dbt))
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "measured_at": pa.array([datetime(2024, 1, d, 1, 2, 3) for d in (1, 2, 3)], pa.timestamp("ns")),
            "price": pa.array([Decimal("1.25"), Decimal("2.50"), None], pa.decimal128(10, 2)),
            "active": [True, False, True],
        }
    )
    path = Path(settings.landing_uri.removeprefix("file://")) / "prices" / "p.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    apply(plan_source(settings, "prices", "prices/", dbt_project_dir=dbt))

    registry = load_registry(settings.sources_file)
    tickets_entry = registry["tickets"]
    assert tickets_entry.format == "jsonl" and tickets_entry.dialect.nested == "flatten"
    assert {c.name: c.type for c in tickets_entry.columns} == {
        "ticket": "long",
        "customer_email": "string",
        "customer_tier": "string",
        "amount": "decimal(18,2)",
        "opened_at": "timestamptz",
    }
    assert tickets_entry.primary_key == ("ticket",) and tickets_entry.pii_columns == ("customer_email",)
    prices = registry["prices"]
    assert {c.name: c.type for c in prices.columns} == {
        "id": "long",
        "measured_at": "timestamp",
        "price": "decimal(10,2)",
        "active": "boolean",
    }
    assert prices.primary_key == ("id",) and prices.partition_column == "measured_at"
    model = yaml.safe_load((dbt / "models/staging/stg_prices.yml").read_text())["models"][0]
    assert model["columns"][0] == {
        "name": "id",
        "description": "Id (primary key).",
        "data_tests": ["not_null", "unique"],
    }
    assert "{{ latest_version('id') }}" in (dbt / "models/staging/stg_prices.sql").read_text()


class JsonRaw(str):
    """A number to write into JSON as written (12.50 keeps its scale)."""


def _json(record: dict) -> str:
    def render(value):  # noqa: ANN001, ANN202
        if isinstance(value, JsonRaw):
            return str(value)
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {render(v)}" for k, v in value.items()) + "}"
        return json.dumps(value)

    return render(record)


def test_dry_run_writes_nothing_and_a_second_run_changes_nothing(project, monkeypatch, capsys):
    settings, dbt = project
    _readings(settings)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(settings.sources_file))
    monkeypatch.setenv("FOUNDATION_EXPECTATIONS_DIR", str(settings.expectations_dir))
    command = ["sources", "add", "readings", "--prefix", "readings/", "--dbt-project", str(dbt)]
    root = settings.sources_file.parent
    untouched = snapshot(root)

    assert main([*command, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+++ " in out and "+  readings:" in out and "raw.readings.json" in out and "nothing written" in out
    assert snapshot(root) == untouched

    assert main(command) == 0
    written = snapshot(root)
    assert written != untouched
    capsys.readouterr()
    assert main(command) == 0
    assert "no changes" in capsys.readouterr().out
    assert snapshot(root) == written

    # A reviewed entry is not overwritten by accident: one line, exit 2; --force replaces it.
    settings.sources_file.write_text(settings.sources_file.read_text().replace("team:unassigned", "team:lab"))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "declared already" in err and "--force" in err
    assert main([*command, "--force"]) == 0
    assert load_registry(settings.sources_file)["readings"].owner == "team:unassigned"


def test_a_prefix_with_no_files_is_refused_in_one_line(project, monkeypatch, capsys):
    settings, dbt = project
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(settings.sources_file))
    assert main(["sources", "add", "nothing", "--prefix", "nothing/", "--dbt-project", str(dbt)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no files under 'nothing/'" in err


def test_the_committed_dbt_sources_are_the_ones_generated_from_the_registry():
    registry = load_registry(PACKAGE_DIR / "sources.yml")
    assert (DBT_PROJECT_DIR / SOURCES_FILE).read_text(encoding="utf-8") == render_dbt_sources(registry)


def test_an_onboarded_source_parses_in_dbt_and_follows_the_house_rules_with_no_test_edit(project, tmp_path):
    from tests.test_dbt_project import assert_follows_the_registry, dbt_parse

    settings, dbt = project
    _readings(settings)
    apply(plan_source(settings, "readings", "readings/", dbt_project_dir=dbt))
    manifest = dbt_parse(dbt, tmp_path / "parsed")
    assert "model.foundation.stg_readings" in manifest["nodes"]
    assert_follows_the_registry(manifest, load_registry(settings.sources_file), dbt)


def test_files_landed_in_s3_are_read_through_the_landing_store(project, s3_server, s3_credentials):
    import dataclasses
    import uuid

    from tests.servers.s3 import REGION

    settings, dbt = project
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="in/events/a.csv", Body=b"event_id,kind\n1,open\n2,close\n3,open\n")
    settings = dataclasses.replace(
        settings, landing_uri=f"s3://{bucket}/in", s3_endpoint_url=s3_server.endpoint_url, s3_region=REGION
    )
    apply(plan_source(settings, "events", "events/", dbt_project_dir=dbt))
    events = load_registry(settings.sources_file)["events"]
    assert events.prefix == "events/" and events.primary_key == ("event_id",)
    assert {c.name: c.type for c in events.columns} == {"event_id": "long", "kind": "string"}


def test_a_key_repeated_in_a_later_file_is_a_new_version_unless_its_event_time_differs(project):
    # A full export each day: every file lists every account once, balances change. Across files
    # account_id repeats (staging keeps the latest version), so the key is account_id.
    settings, dbt = project
    for day, delta in (("2026-03-01", 0), ("2026-03-02", 5)):
        rows = "".join(f"{n},owner{n},{n * 10 + delta}\n" for n in (1, 2, 3))
        land(settings, f"accounts/{day}.csv", f"account_id,owner,balance\n{rows}".encode())
    plan = plan_source(settings, "accounts", "accounts/", dbt_project_dir=dbt)
    assert plan.inferred.primary_key == ["account_id"]
    # A reading per meter each month: meter_id is unique in every file, but its repeats are other
    # readings (another read_on), so read_on joins the key and staging keeps every month.
    for month in ("01-31", "02-28"):
        rows = "".join(f"{n},2026-{month},{n * 1.5}\n" for n in (1, 2))
        land(settings, f"meters/{month}.csv", f"meter_id,read_on,kwh\n{rows}".encode())
    plan = plan_source(settings, "meters", "meters/", dbt_project_dir=dbt)
    assert plan.inferred.primary_key == ["meter_id", "read_on"]
    assert any("read_on joined the key" in note for note in plan.inferred.notes)
    # Within one file a repeated value is no key: a pair is found instead.
    land(settings, "visits/v.csv", b"visitor_id,page\n1,a\n1,b\n2,a\n")
    assert plan_source(settings, "visits", "visits/", dbt_project_dir=dbt).inferred.primary_key == [
        "visitor_id",
        "page",
    ]
