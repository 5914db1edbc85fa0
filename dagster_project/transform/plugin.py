"""dbt-duckdb plugin `foundation`: raw Iceberg tables as dbt sources, read incrementally.

A source table with `read: new_rows` (the default) yields only the rows its consuming staging
model has not seen: those committed after the watermark recorded in the consumer's Iceberg
snapshot summary (every row once, whatever the number of runs in between). `read: all` yields the
whole table (for small lookups). `dbt build --full-refresh` reads everything again.

It also prepares every DuckDB connection dbt opens: UTC session time zone, the memory limit, and
the PII salt as the DuckDB variable `pii_salt` (so the salt never appears in compiled SQL).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig
from dbt.adapters.events.logging import AdapterLogger
from pyiceberg.exceptions import NoSuchTableError

from dagster_project.governance.salt import pii_salt
from dagster_project.lakehouse.changes import appended_since, watermarks
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import load_settings

logger = AdapterLogger("foundation")


def _full_refresh() -> bool:
    from dbt.flags import get_flags

    return bool(getattr(get_flags(), "FULL_REFRESH", False))


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._settings = load_settings()
        self._settings.dbt_working_db.parent.mkdir(parents=True, exist_ok=True)
        self._catalog = None
        # One read per source per dbt invocation: every model and test sees the same rows.
        self._loaded: dict[str, pa.Table] = {}

    def _prepare(self, conn) -> None:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(f"SET memory_limit = '{self._settings.duckdb_memory_limit}'")
        salt = pii_salt(self._settings).replace("'", "''")
        conn.execute(f"SET VARIABLE pii_salt = '{salt}'")

    def configure_connection(self, conn) -> None:
        self._prepare(conn)

    def configure_cursor(self, cursor) -> None:
        self._prepare(cursor)

    def catalog(self):
        if self._catalog is None:
            self._catalog = open_catalog(self._settings)
        return self._catalog

    def load(self, source_config: SourceConfig) -> pa.Table:
        name = source_config.table_name()
        if name in self._loaded:
            return self._loaded[name]
        identifier = source_config.get("iceberg_table", f"{source_config.schema}.{source_config.identifier}")
        try:
            table = self.catalog().load_table(identifier)
        except NoSuchTableError as exc:
            # A dataset with no file landed yet: its empty raw table, as the raw asset creates it.
            datasets = {d.table: d for d in load_registry(self._settings.sources_file)}
            if identifier not in datasets:
                raise RuntimeError(
                    f"source {name}: Iceberg table {identifier} does not exist and is not in the "
                    f"source registry {self._settings.sources_file}"
                ) from exc
            table = ensure_raw_table(self.catalog(), datasets[identifier])
        if source_config.get("read", "new_rows") == "all":
            columns = tuple(source_config.get("columns", ()) or ("*",))
            data = table.scan(selected_fields=columns).to_arrow()
            logger.info(f"{name}: {data.num_rows} row(s), whole table {identifier}")
        else:
            consumer = source_config.get("consumer")
            if not consumer:
                raise ValueError(f"source {name}: meta 'consumer' (the staging table reading it) is missing")
            after = 0 if _full_refresh() else watermarks(self._consumer(consumer)).get(identifier, 0)
            data = appended_since(table, after)
            logger.info(f"{name}: {data.num_rows} new row(s) in {identifier} after sequence number {after}")
        self._loaded[name] = data
        return data

    def _consumer(self, identifier: str):
        try:
            return self.catalog().load_table(identifier)
        except NoSuchTableError:
            return None
