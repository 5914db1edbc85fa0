"""Small Iceberg tables with chosen values, for the profile and render tests."""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from dagster_project.lakehouse.tables import ensure_namespace


def iceberg_table(catalog: Catalog, identifier: str, data: pa.Table) -> Table:
    """A new Iceberg table holding `data` in one snapshot."""
    ensure_namespace(catalog, identifier.split(".")[0])
    table = catalog.create_table(identifier, schema=data.schema)
    table.append(data)
    return table
