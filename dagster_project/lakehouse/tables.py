"""Iceberg catalog and table helpers: open the catalog, create tables idempotently, map types."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.catalog import Catalog, load_catalog
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

from dagster_project.registry import DECIMAL_TYPE, Dataset
from dagster_project.settings import Settings

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


def open_catalog(settings: Settings) -> Catalog:
    """Load the configured catalog (`load_catalog(name, **properties)`: SQL, REST, Glue alike)."""
    props = settings.resolved_catalog_properties()
    uri = props.get("uri", "")
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    warehouse = props.get("warehouse", "")
    if warehouse.startswith("file://"):
        Path(warehouse[len("file://") :]).mkdir(parents=True, exist_ok=True)
    return load_catalog(settings.catalog_name, **props)


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
    """Create the table if it does not exist, then load it (safe under concurrent creators)."""
    try:
        return catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    ensure_namespace(catalog, identifier.split(".")[0])
    try:
        table = catalog.create_table(
            identifier,
            schema=schema,
            partition_spec=partition_spec,
            properties=properties or {"format-version": "2"},
        )
    except TableAlreadyExistsError:
        return catalog.load_table(identifier)
    # add_files maps Parquet columns to fields by name; keep the mapping in the table from
    # the start so that every later schema change updates it in the same commit.
    with table.transaction() as tx:
        tx.set_properties(**{"schema.name-mapping.default": table.schema().name_mapping.model_dump_json()})
    return catalog.load_table(identifier)


def raw_schema(dataset: Dataset) -> Schema:
    """Declared columns (all optional: raw is as landed) followed by the lineage columns."""
    fields = [
        NestedField(i, c.name, iceberg_type(c.type), required=False, doc=c.description or None)
        for i, c in enumerate(dataset.columns, start=1)
    ]
    start = len(fields) + 1
    fields += [
        NestedField(start + i, name, iceberg_type(t), required=False, doc=doc)
        for i, (name, t, doc) in enumerate(LINEAGE_FIELDS)
    ]
    return Schema(*fields)


def ensure_raw_table(catalog: Catalog, dataset: Dataset) -> Table:
    """The raw table for a dataset, partitioned by ingest day."""
    schema = raw_schema(dataset)
    ingested_at = schema.find_field("_ingested_at").field_id
    spec = PartitionSpec(
        PartitionField(source_id=ingested_at, field_id=1000, transform=DayTransform(), name="_ingested_day")
    )
    return ensure_table(catalog, dataset.table, schema, spec, RAW_TABLE_PROPERTIES)
