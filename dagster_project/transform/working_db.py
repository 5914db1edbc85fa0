"""dbt's working DuckDB database: a cache of the staging and curated Iceberg tables, kept in step with them.

Iceberg is the truth. The working database holds each model's table so that dbt's incremental
models, `ref()` and tests work as in any dbt-duckdb project; a marker records, per model, the
Iceberg snapshot the cached table equals. Before dbt runs, every model whose marker does not match
its table's main (a new machine, a held-back or crashed run, another writer) is rebuilt from
Iceberg; a model is marked again only once its changes are published.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.lakehouse.changes import data_unchanged
from dagster_project.lakehouse.wap import main_head
from dagster_project.settings import Settings

log = logging.getLogger(__name__)
MARKERS = "_foundation.published"


@dataclass(frozen=True)
class Model:
    """A dbt model as both engines name it: `staging.stg_orders` in DuckDB and in Iceberg."""

    schema: str
    name: str
    unique_key: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open the working database (dbt must not be running: DuckDB allows one writer process)."""
    settings.dbt_working_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.dbt_working_db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute("CREATE SCHEMA IF NOT EXISTS _foundation")
    con.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} (model VARCHAR PRIMARY KEY, snapshot_id BIGINT)")
    return con


def _exists(con: duckdb.DuckDBPyConnection, model: Model) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [model.schema, model.name],
        ).fetchone()[0]
    )


def marker(con: duckdb.DuckDBPyConnection, model: Model) -> int | None:
    row = con.execute(f"SELECT snapshot_id FROM {MARKERS} WHERE model = ?", [model.table]).fetchone()
    return row[0] if row else None


def mark_published(con: duckdb.DuckDBPyConnection, model: Model, snapshot_id: int) -> None:
    con.execute(f"INSERT OR REPLACE INTO {MARKERS} VALUES (?, ?)", [model.table, snapshot_id])


def mark_dirty(con: duckdb.DuckDBPyConnection, models: Iterable[Model]) -> None:
    """Forget that these tables equal Iceberg (before dbt changes them, or after a held-back publish)."""
    for model in models:
        con.execute(f"DELETE FROM {MARKERS} WHERE model = ?", [model.table])


def sync(con: duckdb.DuckDBPyConnection, catalog: Catalog, models: Iterable[Model]) -> dict[str, str]:
    """Bring every model's cached table in step with its Iceberg table's main.

    Returns:
        model → what was done: `in step`, `rebuilt from snapshot N (R rows)`, `dropped (...)`.
    """
    actions = {}
    for model in models:
        try:
            table = catalog.load_table(model.table)
        except NoSuchTableError:
            table = None
        if table is None:
            if _exists(con, model):
                con.execute(f'DROP TABLE "{model.schema}"."{model.name}"')
                actions[model.table] = "dropped (no Iceberg table yet: dbt builds it from scratch)"
            mark_dirty(con, [model])
            continue
        head = main_head(table)
        if head is not None and marker(con, model) == head and _exists(con, model):
            actions[model.table] = "in step"
            continue
        if head is not None and _exists(con, model) and same_rows_since(table, marker(con, model)):
            # Only maintenance committed since (compaction, checkpoint): the rows are those cached.
            mark_published(con, model, head)
            actions[model.table] = "in step (maintenance commits only)"
            continue
        rows: pa.Table = (
            table.scan().to_arrow() if head is not None else table.schema().as_arrow().empty_table()
        )
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model.schema}"')
        con.register("_hydrate", rows)
        con.execute(f'CREATE OR REPLACE TABLE "{model.schema}"."{model.name}" AS SELECT * FROM _hydrate')
        con.unregister("_hydrate")
        if head is not None:
            mark_published(con, model, head)
        actions[model.table] = f"rebuilt from Iceberg snapshot {head} ({rows.num_rows} rows)"
        log.info("%s: %s", model.table, actions[model.table])
    return actions


def same_rows_since(table: Table, snapshot_id: int | None) -> bool:
    """Whether every commit on main after `snapshot_id` left the rows unchanged."""
    if snapshot_id is None or table.current_snapshot() is None:
        return False
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.snapshot_id == snapshot_id:
            return True
        if not data_unchanged(snapshot):
            return False
    return False  # not an ancestor of main (or expired): rebuild


def written_rows(con: duckdb.DuckDBPyConnection, model: Model, invocation_id: str) -> pa.Table:
    """The rows of a model that one dbt invocation wrote (its changes, to publish)."""
    return con.execute(
        f'SELECT * FROM "{model.schema}"."{model.name}" WHERE _invocation_id = ?', [invocation_id]
    ).fetch_arrow_table()
