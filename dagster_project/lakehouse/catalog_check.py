"""Which tables of the catalog do not load, and which are only in the warehouse (`catalog check`)."""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.table import Table

from dagster_project.lakehouse.catalog import TableUnreadable, load_table, open_catalog
from dagster_project.lakehouse.catalog_recovery import registered_tables
from dagster_project.lakehouse.warehouse import READ_ERRORS, warehouse_tables
from dagster_project.settings import Settings


@dataclass(frozen=True)
class TableCheck:
    """One table's state: 'ok', 'broken' (does not load) or 'unregistered' (in the warehouse only)."""

    table: str
    state: str
    detail: str = ""


def check_catalog(settings: Settings) -> list[TableCheck]:
    """Every table of the catalog loads (metadata, manifest list, manifests), and none is missing from it.

    Raises:
        CatalogCorrupt: The catalog itself is unusable (the message names the recovery step).
    """
    catalog = open_catalog(settings)
    props = settings.resolved_catalog_properties()
    checks = []
    registered = registered_tables(catalog)
    for name in sorted(registered):
        try:
            table = load_table(catalog, name)
        except TableUnreadable as exc:
            checks.append(TableCheck(name, "broken", str(exc)))
            continue
        problem = _missing_files(table)
        checks.append(
            TableCheck(name, "broken", problem)
            if problem
            else TableCheck(name, "ok", table.metadata_location.rsplit("/", 1)[-1])
        )
    warehouse = props.get("warehouse", "")
    for found in warehouse_tables(props, warehouse) if warehouse else []:
        if found.identifier not in registered and found.has_commits:
            checks.append(
                TableCheck(
                    found.identifier,
                    "unregistered",
                    f"in the warehouse ({found.location}, newest metadata version {found.newest_version}) "
                    "but not in the catalog; `foundation catalog recover` registers it",
                )
            )
    return checks


def _missing_files(table: Table) -> str:
    """What of the current snapshot's metadata tree is missing ('' when complete)."""
    head = table.current_snapshot()
    if head is None:
        return ""
    name = ".".join(table.name())
    advice = (
        f"restore it from a backup, or point the table at an older metadata file with `foundation catalog "
        f"recover --table {name} --metadata FILE`"
    )
    listing = f"table {name}: the manifest list {head.manifest_list} of its current snapshot"
    if not table.io.new_input(head.manifest_list).exists():
        return f"{listing} is missing; {advice}"
    try:
        manifests = head.manifests(table.io)
    except READ_ERRORS as exc:
        return f"{listing} does not load ({type(exc).__name__}); {advice}"
    for manifest in manifests:
        if not table.io.new_input(manifest.manifest_path).exists():
            return f"table {name}: the manifest {manifest.manifest_path} is missing; {advice}"
    return ""
