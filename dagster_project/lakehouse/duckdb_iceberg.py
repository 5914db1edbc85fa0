"""DuckDB's own Iceberg reader, loaded offline from the duckdb-extension-avro/-iceberg wheels."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import duckdb


def _extension_file(package: str, name: str) -> Path:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed: run `make setup`")
    root = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    found = sorted(root.glob(f"v{duckdb.__version__}/{name}.duckdb_extension"))
    if not found:
        raise RuntimeError(
            f"{package} has no {name} extension for DuckDB {duckdb.__version__}: run `make setup`"
        )
    return found[0]


def load_iceberg(con: duckdb.DuckDBPyConnection) -> None:
    """Load avro, then iceberg, by path (no download): `iceberg_scan('<metadata.json>')` works after."""
    for package, name in (("duckdb_extension_avro", "avro"), ("duckdb_extension_iceberg", "iceberg")):
        con.execute(f"LOAD '{_extension_file(package, name)}'")
