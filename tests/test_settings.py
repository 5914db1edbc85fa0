from pathlib import Path

import pytest

from dagster_project.settings import Settings, SettingsError, load_settings


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
    with pytest.raises(SettingsError, match="FOUNDATION_SENSOR_MAX_FILES_PER_TICK"):
        load_settings({"FOUNDATION_SENSOR_MAX_FILES_PER_TICK": "many"})


def test_env_example_lists_every_variable_the_settings_module_reads():
    root = Path(__file__).resolve().parents[1]
    source = (root / "dagster_project" / "settings.py").read_text()
    example = (root / ".env.example").read_text()
    import re

    read = set(re.findall(r'"((?:FOUNDATION|DAGSTER)_[A-Z_]+)"', source)) - {"FOUNDATION_CATALOG__"}
    assert read, "expected the settings module to read FOUNDATION_* variables"
    missing = sorted(name for name in read if name not in example)
    assert not missing, f".env.example does not list {missing}"
    assert "FOUNDATION_CATALOG__" in example


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
