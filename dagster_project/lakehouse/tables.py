"""Iceberg table helpers: create tables idempotently (never over old data), map types.

`open_catalog`, `load_table` and the catalog errors live in `lakehouse/catalog.py` and are
re-exported here, where most callers import them from.
"""

from __future__ import annotations

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from dagster_project.lakehouse.catalog import (  # noqa: F401 - re-exported: callers import them from here
    CatalogBesideOldData,
    CatalogCorrupt,
    CatalogUnavailable,
    TableUnreadable,
    load_table,
    open_catalog,
)
from dagster_project.lakehouse.warehouse import WarehouseUnavailable, metadata_files, warehouse_io
from dagster_project.registry import DECIMAL_TYPE, Dataset

_PRIMITIVES: dict[str, IcebergType] = {
    "string": StringType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "timestamptz": TimestamptzType(),
}
_DUCKDB = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
}
LINEAGE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("_source_file", "string", "URI of the landed file this row came from."),
    ("_source_checksum", "string", "BLAKE3 checksum of the landed file version."),
    ("_ingested_at", "timestamptz", "When the ingest run that wrote this row started (UTC)."),
    ("_run_id", "string", "Dagster run id of the ingest run."),
)
# Their names: a source may not declare them; suites and dbt sources may read them.
LINEAGE_COLUMNS = tuple(name for name, _, _ in LINEAGE_FIELDS)
# Raw tables: our own retry re-checks which files are already committed (exactly once);
# pyiceberg's built-in retry would re-apply the same append on top of a concurrent one.
RAW_TABLE_PROPERTIES = {"commit.retry.num-retries": "0", "format-version": "2"}


def iceberg_type(type_name: str) -> IcebergType:
    """The Iceberg type for a registry type name (`long`, `decimal(12,2)`, ...)."""
    if type_name in _PRIMITIVES:
        return _PRIMITIVES[type_name]
    match = DECIMAL_TYPE.match(type_name)
    if match:
        return DecimalType(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"unknown type {type_name!r}")


def duckdb_type(type_name: str) -> str:
    """The DuckDB SQL type for a registry type name."""
    if type_name in _DUCKDB:
        return _DUCKDB[type_name]
    match = DECIMAL_TYPE.match(type_name)
    if match:
        return f"DECIMAL({match.group(1)},{match.group(2)})"
    raise ValueError(f"unknown type {type_name!r}")


def type_name_of(iceberg: IcebergType) -> str:
    """The registry type name of an Iceberg primitive type."""
    if isinstance(iceberg, DecimalType):
        return f"decimal({iceberg.precision},{iceberg.scale})"
    for name, candidate in _PRIMITIVES.items():
        if candidate == iceberg:
            return name
    return "string"


def ensure_namespace(catalog: Catalog, namespace: str) -> None:
    try:
        catalog.create_namespace(namespace)
    except NamespaceAlreadyExistsError:
        pass


def ensure_table(
    catalog: Catalog,
    identifier: str,
    schema: Schema,
    partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
    properties: dict[str, str] | None = None,
) -> Table:
    """Create the table if it does not exist, then load it (safe under concurrent creators).

    Raises:
        TableUnreadable: The table exists but its metadata file is missing or broken; it is never
            re-created over its old data.
    """
    try:
        return load_table(catalog, identifier)
    except NoSuchTableError:
        pass
    try:
        _refuse_table_beside_old_data(catalog, identifier)
    except CatalogCorrupt:
        try:  # a concurrent creator registers the table before its first commit: it may exist now
            return load_table(catalog, identifier)
        except NoSuchTableError:
            pass
        raise
    ensure_namespace(catalog, identifier.split(".")[0])
    try:
        table = catalog.create_table(
            identifier,
            schema=schema,
            partition_spec=partition_spec,
            properties=properties or {"format-version": "2"},
        )
    except TableAlreadyExistsError:
        return load_table(catalog, identifier)
    # add_files maps Parquet columns to fields by name; keep the mapping in the table from
    # the start so that every later schema change updates it in the same commit.
    with table.transaction() as tx:
        tx.set_properties(**{"schema.name-mapping.default": table.schema().name_mapping.model_dump_json()})
    return load_table(catalog, identifier)


def _refuse_table_beside_old_data(catalog: Catalog, identifier: str) -> None:
    """A table missing from the catalog is never created over the committed metadata of its folder."""
    warehouse = catalog.properties.get("warehouse", "").rstrip("/")
    if not warehouse:
        return
    namespace, _, name = identifier.rpartition(".")
    location = f"{warehouse}/{namespace}/{name}"
    try:
        found = metadata_files(warehouse_io(dict(catalog.properties), location), location)
    except OSError as exc:
        raise WarehouseUnavailable(f"the warehouse {warehouse} could not be listed: {exc}") from exc
    committed = [m for m in found if m.version > 0]
    if committed:
        raise CatalogCorrupt(
            f"table {identifier} is not in the catalog, but {location} holds its metadata (newest "
            f"{committed[-1].uri}); nothing was created. Recover with `foundation catalog recover --table "
            f"{identifier}` (registers it from its newest readable metadata file), or move the folder away "
            "if that table is really unwanted"
        )


def optional_field(field_id: int, name: str, kind: IcebergType, doc: str | None) -> NestedField:
    """An optional (nullable) column with its doc, as every table of ours declares its columns."""
    return NestedField(field_id, name, kind, required=False, doc=doc)


def raw_schema(dataset: Dataset) -> Schema:
    """Declared columns (all optional: raw is as landed) followed by the lineage columns."""
    fields = [
        optional_field(i, c.name, iceberg_type(c.type), c.description or None)
        for i, c in enumerate(dataset.columns, start=1)
    ]
    start = len(fields) + 1
    fields += [
        optional_field(start + i, name, iceberg_type(t), doc)
        for i, (name, t, doc) in enumerate(LINEAGE_FIELDS)
    ]
    return Schema(*fields)


def ensure_raw_table(catalog: Catalog, dataset: Dataset, identifier: str | None = None) -> Table:
    """The raw table for a dataset, partitioned by ingest day (`identifier`: another table of that shape)."""
    schema = raw_schema(dataset)
    ingested_at = schema.find_field("_ingested_at").field_id
    spec = PartitionSpec(
        PartitionField(source_id=ingested_at, field_id=1000, transform=DayTransform(), name="_ingested_day")
    )
    return ensure_table(catalog, identifier or dataset.table, schema, spec, RAW_TABLE_PROPERTIES)
