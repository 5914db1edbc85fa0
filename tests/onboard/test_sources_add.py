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
from dagster_project.lakehouse.tables import LINEAGE_COLUMNS
from dagster_project.onboard import infer
from dagster_project.onboard.add import apply, plan_source
from dagster_project.onboard.dbt_sources import SOURCES_FILE, render_dbt_sources
from dagster_project.quality.suites import parse_suite
from dagster_project.registry import load_registry
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


@pytest.mark.slow  # a moto_server
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


# An excerpt of vega_datasets' la-riots.csv (some columns): first names happen to be unique.
RIOTS = """first_name,last_name,race,death_date,neighborhood,type
Cesar A.,Aguilar,Latino,1992-04-30,Westlake,Officer-involved shooting
George,Alvarez,Latino,1992-05-01,Chinatown,Not riot-related
Wilson,Alvarez,Latino,1992-05-23,Hawthorne,Homicide
Brian E.,Andrew,Black,1992-04-30,Compton,Officer-involved shooting
Vivian,Austin,Black,1992-05-03,Harvard Park,Death
Franklin,Benavidez,Latino,1992-04-30,Vermont Square,Officer-involved shooting
"""


def test_a_pii_column_is_never_the_inferred_key_even_when_it_alone_is_unique(project):
    settings, dbt = project
    land(settings, "riots/la-riots.csv", RIOTS.encode())
    plan = plan_source(settings, "riots", "riots/", dbt_project_dir=dbt)
    assert plan.inferred.primary_key == ["neighborhood"]  # not first_name, a person's name

    # Without neighborhood only first_name is unique here, by chance (the real file has two Georges):
    # the key is every column, and staging identifies a row by a hash of all its values.
    without_neighborhood = "".join(
        ",".join(line.split(",")[:4] + line.split(",")[5:]) for line in RIOTS.splitlines(keepends=True)
    )
    land(settings, "riots2/la-riots.csv", without_neighborhood.encode())
    apply(plan_source(settings, "riots2", "riots2/", dbt_project_dir=dbt))
    dataset = load_registry(settings.sources_file)["riots2"]
    assert dataset.primary_key == tuple(c.name for c in dataset.columns)
    assert dataset.column("first_name").pii == "name"
    sql = (dbt / "models/staging/stg_riots2.sql").read_text()
    assert "{{ config(unique_key='row_key') }}" in sql
    selected = sql.split("renamed as (", 1)[1]
    assert not any(line.strip() in ("first_name,", "last_name,") for line in selected.splitlines())
    model = yaml.safe_load((dbt / "models/staging/stg_riots2.yml").read_text())["models"][0]
    columns = {c["name"]: c for c in model["columns"]}
    assert "first_name" not in columns and columns["row_key"]["data_tests"] == ["not_null", "unique"]


# An excerpt of palmerpenguins' penguins.csv: no column, pair or triple is unique, NA is missing.
PENGUINS = """species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
Adelie,Torgersen,39.1,18.7,181,3750,male,2007
Adelie,Torgersen,39.5,17.4,186,3800,female,2007
Adelie,Torgersen,40.3,18,195,3250,female,2007
Adelie,Torgersen,NA,NA,NA,NA,NA,2007
Adelie,Torgersen,36.7,19.3,193,3450,female,2007
Adelie,Torgersen,39.3,20.6,190,3650,male,2007
Adelie,Torgersen,38.9,17.8,181,3625,female,2007
Adelie,Torgersen,39.2,19.6,195,4675,male,2007
"""


def test_with_no_key_every_column_is_the_key_and_staging_loses_no_row(project):
    settings, dbt = project
    land(settings, "penguins/penguins.csv", PENGUINS.encode())
    plan = plan_source(settings, "penguins", "penguins/", dbt_project_dir=dbt)
    apply(plan)
    dataset = load_registry(settings.sources_file)["penguins"]
    columns = [c.name for c in dataset.columns]
    assert list(dataset.primary_key) == columns  # a row is identified by all its values
    # A number named like free text (body) is no text: no text PII, no text macro on it.
    assert dataset.column("body_mass_g").type == "long" and dataset.pii_columns == ()
    assert any("every column is the key" in n for n in plan.inferred.notes)
    entry = settings.sources_file.read_text().split("\n  penguins:\n", 1)[1]
    assert "a row is identified by all its values" in entry.split("primary_key:", 1)[1].split("\n")[0]

    sql = (dbt / "models/staging/stg_penguins.sql").read_text()
    assert "is not null" not in sql  # a missing measure is no missing key: the row is kept
    assert "{{ config(unique_key='row_key') }}" in sql and "as row_key" in sql
    assert "latest_version(['species', 'island'," in sql  # exact repeats only
    assert "redact" not in sql
    model = yaml.safe_load((dbt / "models/staging/stg_penguins.yml").read_text())["models"][0]
    tests = {c["name"]: c.get("data_tests") for c in model["columns"]}
    assert tests["row_key"] == ["not_null", "unique"]
    assert not any(tests[c] for c in columns)  # no not_null on a column that may be missing

    suite = json.loads((settings.expectations_dir / "raw.penguins.json").read_text())
    kinds = [(e["type"], e.get("kwargs", {}).get("column")) for e in suite["expectations"]]
    assert not any(kind == "expect_column_values_to_not_be_null" for kind, _ in kinds)
    assert not any("unique" in e["meta"]["notes"] for e in suite["expectations"])


def test_every_note_of_the_suite_is_true_of_a_key_unique_within_each_file_only(project):
    settings, dbt = project
    for day, delta in (("2026-03-01", 0), ("2026-03-02", 5)):
        rows = "".join(f"{n},owner{n},{n * 10 + delta}\n" for n in (1, 2, 3))
        land(settings, f"accounts/{day}.csv", f"account_id,owner,balance\n{rows}".encode())
    apply(plan_source(settings, "accounts", "accounts/", dbt_project_dir=dbt))
    suite = json.loads((settings.expectations_dir / "raw.accounts.json").read_text())
    unique = next(e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_unique")
    # account_id repeats across the two files (6 rows, 3 ids): unique within each file, not overall.
    assert "unique within each of the 2 landed files" in unique["meta"]["notes"]
    assert "unique and never null within each landed file" in settings.sources_file.read_text()


# An excerpt of vega_datasets' stocks.csv: dates as `Jan 1 2000`.
STOCKS = """symbol,date,price
MSFT,Jan 1 2000,39.81
MSFT,Feb 1 2000,36.35
MSFT,Mar 1 2000,43.22
MSFT,Jan 1 2001,24.84
AMZN,Jan 1 2000,64.56
AMZN,Jan 1 2001,17.31
"""


def test_byte_identical_files_count_once_and_month_name_dates_are_dates(project):
    settings, dbt = project
    land(settings, "stocks/stocks.csv", STOCKS.encode())
    land(settings, "stocks/stocks (1).csv", STOCKS.encode())  # the same download, twice
    plan = plan_source(settings, "stocks", "stocks/", dbt_project_dir=dbt)
    apply(plan)
    assert plan.inferred.rows == 6 and plan.inferred.files == ["stocks/stocks (1).csv"]
    assert any("the same bytes as stocks/stocks (1).csv; skipped" in n for n in plan.inferred.notes)
    dataset = load_registry(settings.sources_file)["stocks"]
    assert dataset.primary_key == ("symbol", "date")
    assert dataset.column("date").type == "date" and dataset.dialect.date_format == "%b %d %Y"


def test_a_suite_changed_by_newly_landed_files_is_said_so_not_called_edited(project, monkeypatch, capsys):
    settings, dbt = project
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(settings.sources_file))
    monkeypatch.setenv("FOUNDATION_EXPECTATIONS_DIR", str(settings.expectations_dir))
    command = ["sources", "add", "stocks", "--prefix", "stocks/", "--dbt-project", str(dbt)]
    land(settings, "stocks/2000.csv", "".join(STOCKS.splitlines(keepends=True)[:4]).encode())
    assert main(command) == 0
    land(settings, "stocks/2001.csv", ("symbol,date,price\n" + "".join(STOCKS.splitlines(True)[4:])).encode())
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the starter suite (" in err and "raw.stocks.json" in err and "files landed since" in err
    assert "reviewed or edited?" not in err and "--dry-run --force" in err


def test_a_reviewed_registry_entry_regenerates_the_suite_and_staging_model(project, monkeypatch, capsys):
    settings, dbt = project
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(settings.sources_file))
    monkeypatch.setenv("FOUNDATION_EXPECTATIONS_DIR", str(settings.expectations_dir))
    _readings(settings)
    add = ["sources", "add", "readings", "--prefix", "readings/", "--dbt-project", str(dbt)]
    assert main(add) == 0
    # A person reviews the entry: contact_email is a shared mailbox, not personal data.
    text = settings.sources_file.read_text()
    settings.sources_file.write_text(
        text.replace("contact_email: {type: string, pii: email}", "contact_email: {type: string}")
    )
    reviewed = settings.sources_file.read_text()
    assert reviewed != text
    assert main([*add, "--from-registry"]) == 0
    assert settings.sources_file.read_text() == reviewed  # the entry is kept as the person left it
    sql = (dbt / "models/staging/stg_readings.sql").read_text()
    assert "email_hash" not in sql and "        contact_email,\n" in sql
    suite = json.loads((settings.expectations_dir / "raw.readings.json").read_text())
    assert any(e.get("kwargs", {}).get("column") == "contact_email" for e in suite["expectations"])
    capsys.readouterr()
    assert main([*add, "--from-registry"]) == 0
    assert "no changes" in capsys.readouterr().out
    # A hand-edited staging model is not overwritten without --force.
    (dbt / "models/staging/stg_readings.sql").write_text(sql + "-- edited\n")
    settings.sources_file.write_text(
        reviewed.replace("primary_key: [site_id, sensor]", "primary_key: [site_id, sensor, reading_date]")
    )
    assert main([*add, "--from-registry"]) == 2
    assert "the staging model (" in capsys.readouterr().err
    assert main([*add, "--from-registry", "--force"]) == 0
    assert (
        "latest_version(['site_id', 'sensor', 'reading_date'])"
        in (dbt / "models/staging/stg_readings.sql").read_text()
    )


@pytest.mark.slow
def test_sources_with_no_key_build_in_staging_with_every_row_and_no_name_in_clear(checkout):
    # The penguins excerpt with one row delivered twice in the file: staging drops that exact repeat only.
    penguins = PENGUINS + PENGUINS.splitlines(keepends=True)[4]  # the row of NA measures, again
    checkout.landing("penguins/penguins.csv").write_text(penguins)
    riots = "".join(
        ",".join(line.split(",")[:4] + line.split(",")[5:]) for line in RIOTS.splitlines(keepends=True)
    )
    checkout.landing("riots/la-riots.csv").write_text(riots)
    for name in ("penguins", "riots"):
        added = checkout.run(f".venv/bin/foundation sources add {name} --prefix {name}/")
        assert added.returncode == 0, added.stdout + added.stderr[-3000:]
    ingested = checkout.run(".venv/bin/foundation ingest")
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr[-3000:]
    assert "0 quarantined" in ingested.stdout and "0 failed" in ingested.stdout, ingested.stdout
    assert "gate passed" in ingested.stdout and "failed" not in ingested.stdout.replace("0 failed", "")
    status = json.loads(checkout.run(".venv/bin/foundation status --json").stdout)
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    assert rows["raw.penguins"] == 9 and rows["staging.stg_penguins"] == 8
    assert rows["raw.riots"] == rows["staging.stg_riots"] == 6
    done = checkout.run(
        '.venv/bin/foundation query --as analyst --format json "select * from staging.stg_riots"'
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    read = json.loads(done.stdout)
    assert "first_name" not in read[0] and len(read[0]["row_key"]) == 64
    assert not any("George" in json.dumps(row) for row in read)
