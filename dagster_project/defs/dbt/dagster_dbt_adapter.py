"""The one module that reaches into dagster-dbt's private members; each use names its public successor.

dagster-dbt is pinned. Every private member used here is pinned by tests/defs/test_dagster_dbt_adapter.py,
so an upgrade that changes one fails there, in one place. tests/test_adapters.py fails if another
module touches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DbtCliResource

# Replaced by: `DbtEventIterator.fetch_column_metadata(with_column_lineage=True)`, were it to take the
# parents' column types from the caller; it asks the warehouse, where our Iceberg sources are not tables.
from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata
from packaging import version


class FoundationDbtCli(DbtCliResource):
    """dbt-core from this environment: its version is known without running `dbt --version`.

    Overrides `DbtCliResource._cli_version`. Replaced by: none in the pinned dagster-dbt; a public
    `DbtCliResource` field for the dbt version (or dagster-dbt reading `dbt.version` when dbt-core
    is importable) would make this class unnecessary.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        # dagster-dbt asks the executable (1.5-2 s per run); ours is the dbt-core installed here.
        from dbt.version import __version__

        return version.parse(__version__)


def column_lineage_metadata(
    node: Mapping[str, Any],
    columns: dict[str, dict[str, str]],
    parents: dict[str, dict[str, dict[str, str]]],
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    target_path: Path,
) -> dict[str, Any]:
    """dagster-dbt's column lineage metadata of one model, from its compiled SQL and given column types.

    Replaced by: `DbtEventIterator.fetch_column_metadata(with_column_lineage=True)` if it could take
    the column types from the caller instead of querying the warehouse.

    Args:
        node: The model's manifest node.
        columns: The model's columns, each `{"data_type": ...}`.
        parents: Each parent's columns by its relation name.
        manifest: The dbt manifest.
        translator: Maps dbt nodes to asset keys.
        target_path: dbt's target folder of the build (holds `compiled/`).

    Returns:
        Metadata with `dagster/column_lineage`, or empty when the node has no lineage to derive.

    Raises:
        Exception: Whatever sqlglot raises on SQL it cannot read (callers treat lineage as optional).
    """
    return _build_column_lineage_metadata(
        event_history_metadata=EventHistoryMetadata(columns=columns, parents=parents),
        dbt_resource_props=dict(node),
        manifest=manifest,
        dagster_dbt_translator=translator,
        target_path=target_path,
        project=None,
    )
