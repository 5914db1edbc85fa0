from pathlib import Path

import pytest

from dagster_project.defs.resources import Foundation
from dagster_project.settings import Settings, SettingsError, declared, load_settings
from dagster_project.settings_docs import env_example, with_table


def test_no_environment_means_embedded_default_under_data_dir():
    settings = load_settings({})
    data = settings.data_dir
    assert data.name == ".data"
    assert settings.landing_uri == (data / "landing").as_uri()
    assert settings.warehouse_uri == (data / "warehouse").as_uri()
    assert settings.catalog_properties["type"] == "sql"
    assert settings.catalog_properties["uri"] == f"sqlite:///{data / 'catalog.db'}"
    assert settings.dagster_home_dir == data / "dagster_home"


def test_catalog_properties_are_configuration_only(tmp_path: Path):
    settings = load_settings(
        {
            "FOUNDATION_DATA_DIR": str(tmp_path),
            "FOUNDATION_CATALOG_NAME": "prod",
            "FOUNDATION_CATALOG__TYPE": "rest",
            "FOUNDATION_CATALOG__URI": "http://127.0.0.1:8181",
            "FOUNDATION_CATALOG__S3__ENDPOINT": "http://127.0.0.1:9000",
            "FOUNDATION_CATALOG__S3__PATH_STYLE_ACCESS": "true",
            "FOUNDATION_WAREHOUSE_URI": "s3://lake/warehouse/",
        }
    )
    assert settings.catalog_name == "prod"
    assert settings.resolved_catalog_properties() == {
        "type": "rest",
        "uri": "http://127.0.0.1:8181",
        "s3.endpoint": "http://127.0.0.1:9000",
        "s3.path-style-access": "true",
        "warehouse": "s3://lake/warehouse",
    }


def test_bad_number_names_the_variable():
    with pytest.raises(SettingsError, match="FOUNDATION_SENSOR_MAX_FILES_PER_RUN"):
        load_settings({"FOUNDATION_SENSOR_MAX_FILES_PER_RUN": "many"})


@pytest.mark.parametrize("address", ["not a host", "ray-head", "ray://ray-head", "http://ray-head:10001"])
def test_a_malformed_ray_address_is_a_settings_error_naming_the_variable(address):
    with pytest.raises(SettingsError, match="FOUNDATION_RAY_ADDRESS=.*ray://host:10001"):
        load_settings({"FOUNDATION_RAY_ADDRESS": address})


@pytest.mark.parametrize("address", ["ray-head:6379", "ray://ray-head:10001", "auto", "[::1]:6379"])
def test_a_ray_address_as_ray_init_takes_it_loads(address):
    assert load_settings({"FOUNDATION_RAY_ADDRESS": address}).ray_address == address


def test_a_renamed_variable_names_its_new_name_instead_of_being_ignored():
    with pytest.raises(SettingsError, match="renamed: set FOUNDATION_SENSOR_MAX_FILES_PER_RUN"):
        load_settings({"FOUNDATION_SENSOR_MAX_FILES_PER_TICK": "20"})


ROOT = Path(__file__).resolve().parents[1]


def test_env_example_is_generated_from_the_declaration():
    # One declaration per setting: `make settings-docs` rewrites .env.example from it.
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example()
    for name, info in declared().items():
        assert info.description, f"setting {name} has no one-line documentation"


def test_readme_settings_table_is_generated_from_the_declaration():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert with_table(readme) == readme, "run `make settings-docs`"
    assert "| `FOUNDATION_SENSOR_MAX_FILES_PER_RUN` | `500` | files one sensor run carries" in readme


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FOUNDATION_DUCKDB_THREADS", "four", "FOUNDATION_DUCKDB_THREADS='four' is not a whole number (int)"),
        ("FOUNDATION_MAINTENANCE_KEEP_LAST", "0", "FOUNDATION_MAINTENANCE_KEEP_LAST='0' must be at least 1"),
        (
            "FOUNDATION_DUCKDB_MEMORY_LIMIT",
            "lots",
            "FOUNDATION_DUCKDB_MEMORY_LIMIT='lots' is not a memory size",
        ),
    ],
)
def test_a_wrong_value_names_the_variable_and_the_expected_type(monkeypatch, variable, value, message):
    with pytest.raises(SettingsError) as given:
        load_settings({variable: value})
    assert message in str(given.value)
    # The same through the process environment, read by pydantic-settings.
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as read:
        load_settings()
    assert str(read.value) == str(given.value)


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("FOUNDATION_DUCKDB_THREADS", "")
    assert load_settings().duckdb_threads == 0
    assert load_settings({"FOUNDATION_SENSOR_INTERVAL_SECONDS": ""}).sensor_interval_seconds == 1


def test_the_resource_carries_every_setting_and_gives_them_back(tmp_path):
    # Foundation (Dagster run config) mirrors the declaration: a new setting missing there fails here.
    assert set(Foundation.model_fields) == set(declared())
    settings = Settings.for_data_dir(tmp_path, duckdb_threads=3, dagster_home=tmp_path / "home")
    assert Foundation.from_settings(settings).settings() == settings


def test_settings_survive_the_trip_to_a_subprocess_environment(tmp_path):
    # dbt runs in a subprocess and its plugin reads the settings back from the environment.
    settings = Settings.for_data_dir(
        tmp_path,
        pii_salt="s3cret",
        s3_region="eu-west-1",
        catalog_properties={
            "type": "sql",
            "uri": "sqlite:///x.db",
            "warehouse": "file:///w",
            "s3.path-style-access": "true",
        },
    )
    assert load_settings(settings.to_env()) == settings
    assert load_settings(Settings.for_data_dir(tmp_path).to_env()) == Settings.for_data_dir(tmp_path)


def test_a_given_environment_is_the_whole_environment(monkeypatch, tmp_path):
    # dbt's plugin and the tests pass the variables they mean; one left in the process environment
    # (by a caller, another test) must not slip in: that made the subprocess round trip flaky.
    monkeypatch.setenv("FOUNDATION_DUCKDB_THREADS", "7")
    assert load_settings({}).duckdb_threads == 0
    assert load_settings(Settings.for_data_dir(tmp_path).to_env()) == Settings.for_data_dir(tmp_path)
    assert load_settings().duckdb_threads == 7
