"""Pins the dagster-dbt behaviour the adapter relies on: the dbt version property its CLI asks, and
column lineage derived from compiled SQL and column types the caller gives."""

from __future__ import annotations

import inspect
from functools import cached_property

import dagster as dg
import pytest
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dbt.version import __version__ as dbt_version
from packaging import version

from dagster_project.defs.dbt import DBT_EXECUTABLE
from dagster_project.defs.dbt.dagster_dbt_adapter import FoundationDbtCli, column_lineage_metadata


def test_the_cli_version_comes_from_dbt_core_without_running_dbt(tmp_path, monkeypatch):
    import dagster_dbt.core.resource as resource

    # dagster-dbt declares the property the override replaces, and its `cli` reads it.
    assert isinstance(inspect.getattr_static(DbtCliResource, "_cli_version"), cached_property)
    assert "self._cli_version" in inspect.getsource(DbtCliResource.cli)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(resource, "check_output", no_subprocess)
    (tmp_path / "dbt_project.yml").write_text("name: pins\n")
    dbt = FoundationDbtCli(project_dir=str(tmp_path), dbt_executable=str(DBT_EXECUTABLE))
    assert dbt._cli_version == version.parse(dbt_version)


class _KeysByName(DagsterDbtTranslator):
    def get_asset_spec(self, manifest, unique_id, project):  # a manifest of two nodes only
        return dg.AssetSpec(key=unique_id.split(".")[-1])


@pytest.fixture
def manifest() -> dict:
    source = {
        "unique_id": "source.pins.raw.orders",
        "relation_name": '"memory"."raw"."orders"',
        "columns": {"id": {}, "amount": {}},
    }
    model = {
        "unique_id": "model.pins.orders_doubled",
        "name": "orders_doubled",
        "resource_type": "model",
        "package_name": "pins",
        "original_file_path": "models/orders_doubled.sql",
        "relation_name": '"memory"."main"."orders_doubled"',
        "depends_on": {"nodes": [source["unique_id"]]},
    }
    return {
        "metadata": {"adapter_type": "duckdb"},
        "sources": {source["unique_id"]: source},
        "nodes": {model["unique_id"]: model},
    }


def test_column_lineage_comes_from_the_compiled_sql_and_the_given_columns(tmp_path, manifest):
    compiled = tmp_path / "compiled" / "pins" / "models" / "orders_doubled.sql"
    compiled.parent.mkdir(parents=True)
    compiled.write_text('select id, amount * 2 as doubled from "memory"."raw"."orders"')
    node = manifest["nodes"]["model.pins.orders_doubled"]
    metadata = column_lineage_metadata(
        node,
        {"id": {"data_type": "bigint"}, "doubled": {"data_type": "double"}},
        {'"memory"."raw"."orders"': {"id": {"data_type": "bigint"}, "amount": {"data_type": "double"}}},
        manifest,
        _KeysByName(),
        tmp_path,
    )
    deps = metadata["dagster/column_lineage"].deps_by_column
    assert deps == {
        "id": [dg.TableColumnDep(asset_key=dg.AssetKey("orders"), column_name="id")],
        "doubled": [dg.TableColumnDep(asset_key=dg.AssetKey("orders"), column_name="amount")],
    }


def test_a_model_not_compiled_in_the_target_raises_for_the_caller_to_skip(tmp_path, manifest):
    node = manifest["nodes"]["model.pins.orders_doubled"]
    with pytest.raises(FileNotFoundError):
        column_lineage_metadata(node, {}, {}, manifest, _KeysByName(), tmp_path)
