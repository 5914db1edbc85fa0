"""dbt tests that cannot run yet: a model they read besides their own has no data and is not built now.

A `relationships` test on `stg_orders.product_id` reads `stg_products` too. When orders land before
products, `stg_products` has no table: dbt would error on the test (`Table with name stg_products does
not exist`), the gate would hold every `stg_orders` batch back and the run would fail, though nothing
is wrong with the orders. So the decision is made up front, from the manifest, as Dagster's automation
waits for a missing upstream: such a test is left out of the dbt invocation and reported as not run
with its reason. Once the other model has a table (or is built in the same run) the test runs and
gates as any other.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pyiceberg.catalog import Catalog

from dagster_project.transform.build import manifest_models


def waiting_tests(manifest: Mapping[str, Any], catalog: Catalog, building: Collection[str]) -> dict[str, str]:
    """The dbt tests of the models being built that read a model with no data yet, and why.

    Args:
        manifest: The dbt manifest.
        catalog: The Iceberg catalog (a model has data once its table exists).
        building: Unique ids of the models this run builds (their tables are made by the run).

    Returns:
        Test unique id → why it does not run (`staging.stg_products has no data yet`).
    """
    models = manifest_models(manifest)
    waiting = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "test":
            continue
        reads = [d for d in node["depends_on"]["nodes"] if d in models]
        if not any(d in building for d in reads):
            continue  # dbt does not select it in this run anyway
        missing = [
            models[d].table for d in reads if d not in building and not catalog.table_exists(models[d].table)
        ]
        if missing:
            waiting[uid] = f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no data yet"
    return waiting


def not_run_by_model(manifest: Mapping[str, Any], waiting: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The waiting tests grouped by the model they check: model unique id → test name → why."""
    by_model: dict[str, dict[str, str]] = {}
    for uid, why in waiting.items():
        node = manifest["nodes"][uid]
        target = node.get("attached_node") or next(
            (d for d in node["depends_on"]["nodes"] if d.startswith("model.")), None
        )
        if target:
            by_model.setdefault(target, {})[node["name"]] = why
    return by_model


def exclude_args(manifest: Mapping[str, Any], waiting: Collection[str]) -> list[str]:
    """dbt's `--exclude` arguments leaving the waiting tests out, by their fully qualified names."""
    names = sorted(".".join(manifest["nodes"][uid]["fqn"]) for uid in waiting)
    return ["--exclude", " ".join(names)] if names else []
