"""Column lineage of dbt models (`dagster/column_lineage`), read from the SQL dbt compiled in the build.

dagster-dbt derives lineage with sqlglot from the compiled SQL and the parents' column types, which it
asks the warehouse for. Here the parents are Iceberg tables the plugin serves, so their columns come
from the manifest instead (sources declare every column; the lineage columns are added by ingest).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from dagster_project.defs.dbt.dagster_dbt_adapter import column_lineage_metadata
from dagster_project.lakehouse.changes import SEQUENCE_COLUMN
from dagster_project.lakehouse.tables import LINEAGE_COLUMNS

log = logging.getLogger(__name__)

# Columns every raw source has besides its declared ones (ingest lineage, the plugin's sequence).
SOURCE_EXTRA_COLUMNS = (*LINEAGE_COLUMNS, SEQUENCE_COLUMN)


def _columns(props: Mapping[str, Any], *, source: bool) -> dict[str, dict[str, str]]:
    columns = {name: {"data_type": c.get("data_type") or "varchar"} for name, c in props["columns"].items()}
    if source:
        for name in SOURCE_EXTRA_COLUMNS:
            columns.setdefault(name, {"data_type": "varchar"})
    return columns


def column_lineage(
    manifest: Mapping[str, Any],
    unique_id: str,
    target_path: Path,
    translator: DagsterDbtTranslator,
    asset_keys: Mapping[dg.AssetKey, dg.AssetKey] | None = None,
) -> dg.TableColumnLineage | None:
    """Which upstream columns each column of a model is computed from.

    Args:
        manifest: The dbt manifest.
        unique_id: The model, e.g. `model.foundation.orders`.
        target_path: dbt's target folder of the build (holds `compiled/`).
        translator: Maps dbt nodes to asset keys.
        asset_keys: Keys to replace in the result (a lookup source → the raw asset it reads).

    Returns:
        The lineage, or None when the model was not compiled in this target or sqlglot cannot read it.
    """
    node = manifest["nodes"][unique_id]
    parents = {}
    for parent_id in node["depends_on"]["nodes"]:
        source = parent_id.startswith("source.")
        parent = (manifest["sources"] if source else manifest["nodes"])[parent_id]
        parents[parent["relation_name"]] = _columns(parent, source=source)
    try:
        metadata = column_lineage_metadata(
            node, _columns(node, source=False), parents, manifest, translator, target_path
        )
    except Exception as exc:  # lineage is a nicety: a model sqlglot cannot parse still publishes
        log.warning("no column lineage for %s: %s", unique_id, exc)
        return None
    lineage = metadata.get("dagster/column_lineage")
    if lineage is None or not asset_keys:
        return lineage
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(
                    asset_key=asset_keys.get(d.asset_key, d.asset_key), column_name=d.column_name
                )
                for d in deps
            ]
            for column, deps in lineage.deps_by_column.items()
        }
    )
