"""The catalog in Dagster: every asset says what it is, who owns it and what its columns hold."""

import dagster as dg

from dagster_project.defs.deployment import build_defs


def _nodes(settings):
    graph = build_defs(settings).resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def test_every_asset_has_a_description_an_owner_and_kinds(settings):
    for name, node in _nodes(settings).items():
        assert node.description and len(node.description) > 20, name
        assert node.owners, name
        assert node.kinds, name


def test_every_table_asset_documents_its_columns_before_any_run(settings):
    tables = {n: node for n, node in _nodes(settings).items() if "dagster/table_name" in node.metadata}
    assert len(tables) >= 14
    for name, node in tables.items():
        schema = node.metadata["dagster/column_schema"]
        assert len(schema.columns) >= 5, name
        undocumented = [c.name for c in schema.columns if not c.description]
        assert not undocumented, f"{name}: columns without a description: {undocumented}"
    customers = {c.name: c for c in tables["raw/customers"].metadata["dagster/column_schema"].columns}
    assert customers["email"].tags == {"pii": "email"}
    assert customers["_source_file"].tags == {"lineage": "true"}
    assert customers["country"].tags == {}
    chunks = {c.name: c for c in tables["curated/document_chunks"].metadata["dagster/column_schema"].columns}
    assert chunks["text"].tags == {"pii": "free_text"} and "PII masked" in chunks["text"].description
    assert chunks["embedding"].type == "list<float>"


def test_numeric_metadata_is_typed_so_the_ui_plots_it(settings, registry):
    from dagster_project.defs.asset_metadata import check_summary

    summary = check_summary([True, True, False, True])
    assert summary["check_pass_rate"] == dg.MetadataValue.float(0.75)
    assert summary["checks_evaluated"] == dg.MetadataValue.int(4)
    assert check_summary([])["check_pass_rate"] == dg.MetadataValue.float(1.0)


def test_dbt_model_columns_derived_from_pii_are_tagged_with_how_they_are_masked(settings):
    nodes = _nodes(settings)
    customers = {c.name: c for c in nodes["staging/stg_customers"].metadata["dagster/column_schema"].columns}
    assert customers["email_hash"].tags == {"pii": "email"}
    assert "PII masked" in customers["email_hash"].description
    assert customers["segment"].tags == {}
    tickets = {c.name: c for c in nodes["curated/support_tickets"].metadata["dagster/column_schema"].columns}
    assert tickets["document_text"].tags == {"pii": "free_text"}
