"""Governed queries: one read-only SELECT, checked against a persona's policy, run in DuckDB.

Each table a statement reads is loaded from Iceberg (only the columns it needs) into an
in-memory DuckDB as the persona may see it: row filter applied, masks applied, denied columns
absent. The raw rows are dropped before the user's SQL runs, and DuckDB is locked against
reading files, so the checks below give clear messages and the data itself cannot leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import sqlglot
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from dagster_project.errors import FoundationError
from dagster_project.governance.audit import AuditEvent, record_safely
from dagster_project.governance.policy import Persona, UnknownPersona, load_policies
from dagster_project.governance.sql import (
    ALLOWED_TABLE_FUNCTIONS,
    DIALECT,
    forbidden_function,
    parse_expression,
)
from dagster_project.governance.sql import referenced_columns as columns_of
from dagster_project.governance.time_travel import AsOfError, resolve_snapshots
from dagster_project.settings import Settings

QUERY_ROOTS = (exp.Select, exp.SetOperation)


class QueryRejected(FoundationError, ValueError):
    """The statement is not one read-only SELECT over catalog tables; nothing ran."""


class QueryDenied(FoundationError, PermissionError):
    """The persona may not read a table or column the statement needs; nothing ran."""


@dataclass
class QueryResult:
    """Rows of a governed query and what was read."""

    rows: pa.Table
    truncated: bool
    snapshot_ids: dict[str, int | None] = field(default_factory=dict)


def _table_name(node: exp.Table) -> str:
    return f"{node.db}.{node.name}"


def referenced_tables(statement: exp.Expression) -> set[str]:
    """Catalog tables (`namespace.table`) a parsed statement reads; CTE names are not tables.

    Raises:
        QueryRejected: A table reference is neither `namespace.table` nor a CTE in scope, or it
            is a table function that reads outside the catalog.
    """
    tables: set[str] = set()
    for scope in traverse_scope(statement):
        for node in scope.tables:
            if not isinstance(node.this, exp.Identifier):
                if isinstance(node.this, ALLOWED_TABLE_FUNCTIONS):
                    continue
                raise QueryRejected(
                    f"table function {node.this.sql(DIALECT)!r} is not allowed; read tables by name"
                )
            if node.args.get("catalog"):
                raise QueryRejected(
                    f"{node.sql(DIALECT)}: name tables as namespace.table, e.g. curated.orders"
                )
            if node.db:
                tables.add(_table_name(node))
            elif node.name not in scope.cte_sources:
                raise QueryRejected(
                    f"unknown table {node.name!r}: name tables as namespace.table, e.g. curated.orders"
                )
    return tables


def parse_statement(sql: str) -> exp.Expression:
    """Parse `sql` as exactly one read-only query that calls no file- or database-reading function.

    Raises:
        QueryRejected: Anything else (DDL, DML, ATTACH, COPY, PRAGMA, SET, several statements, ...).
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        raise QueryRejected(f"could not parse the statement: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise QueryRejected(f"give exactly one SELECT statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, QUERY_ROOTS):
        kind = str(statement.this if isinstance(statement, exp.Command) else statement.key).upper()
        raise QueryRejected(f"only SELECT is allowed, not {kind}: governed queries are read-only")
    name = forbidden_function(statement)
    if name:
        raise QueryRejected(
            f"function {name}() is not allowed: it reads outside the governed tables; query tables by name"
        )
    return statement


def _readable(persona: Persona, catalog: Catalog) -> list[str]:
    names = [".".join(t) for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)]
    return sorted(n for n in names if persona.can_read(n))


def _check_tables(persona: Persona, catalog: Catalog, tables: set[str]) -> dict[str, Table]:
    denied = sorted(t for t in tables if not persona.can_read(t))
    if denied:
        readable = ", ".join(_readable(persona, catalog)) or "none"
        raise QueryDenied(
            f"persona {persona.name!r} may not read {', '.join(denied)}; readable tables: {readable}"
        )
    loaded = {}
    for name in sorted(tables):
        try:
            loaded[name] = catalog.load_table(name)
        except NoSuchTableError as exc:
            readable = ", ".join(_readable(persona, catalog)) or "none"
            raise QueryRejected(f"no table {name}; tables {persona.name!r} can read: {readable}") from exc
    return loaded


def _schema(table: Table, snapshot_id: int | None) -> list[str]:
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    return [f.name for f in scan.projection().fields]


def referenced_columns(statement: exp.Expression, schemas: Mapping[str, list[str]]) -> dict[str, set[str]]:
    """Columns each catalog table contributes to a statement, `select *` expanded.

    Raises:
        QueryRejected: A column does not resolve, or a table alias is used as a whole-row value.
    """
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for name, columns in schemas.items():
        namespace, table = name.split(".", 1)
        nested.setdefault(namespace, {})[table] = dict.fromkeys(columns, "VARCHAR")
    try:
        qualified = qualify(
            statement.copy(),
            schema=nested,
            dialect=DIALECT,
            validate_qualify_columns=True,
            quote_identifiers=False,
        )
    except OptimizeError as exc:
        raise QueryRejected(f"{exc}; readable columns: {_columns_help(schemas)}") from exc
    whole_row = qualified.find(exp.TableColumn)
    if whole_row is not None:
        raise QueryRejected(f"{whole_row.name!r} is a table: select its columns by name")
    used: dict[str, set[str]] = {name: set() for name in schemas}
    for scope in traverse_scope(qualified):
        for column in scope.expression.find_all(exp.Column):
            if not column.table and column.name in scope.sources:
                raise QueryRejected(f"{column.name!r} is a table: select its columns by name")
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table) and source.db:
                used[_table_name(source)].add(column.name)
    return used


def _columns_help(schemas: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{t}: {', '.join(c)}" for t, c in schemas.items())


def _check_columns(
    persona: Persona, used: Mapping[str, set[str]], schemas: Mapping[str, list[str]], starred: bool
) -> None:
    for table, columns in sorted(used.items()):
        rules = persona.column_rules(table)
        denied = sorted(c for c in columns if c in rules and rules[c].denied)
        if denied:
            readable = [c for c in schemas[table] if not (c in rules and rules[c].denied)]
            star = " (a select * includes them: name the columns, or use * EXCLUDE (...))" if starred else ""
            raise QueryDenied(
                f"persona {persona.name!r} may not read column(s) {', '.join(denied)} of {table}"
                f"{star}; readable columns: {', '.join(readable)}"
            )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _materialize(
    con: duckdb.DuckDBPyConnection,
    persona: Persona,
    name: str,
    table: Table,
    snapshot_id: int | None,
    columns: set[str],
    salt: str,
) -> None:
    """Create `name` in DuckDB as the persona sees it: filtered, masked, only the columns needed."""
    rules = persona.column_rules(name)
    available = _schema(table, snapshot_id)
    row_filter = persona.row_filter(name)
    wanted = [c for c in available if c in columns and not (c in rules and rules[c].denied)]
    if not wanted:  # count(*) and the like: any one readable column carries the row count
        wanted = [c for c in available if not (c in rules and rules[c].denied)][:1]
    needed = set(wanted)
    for c in wanted:
        if c in rules:
            needed |= rules[c].columns_used(c)
    if row_filter:
        needed |= columns_of(parse_expression(row_filter))
    load = [c for c in available if c in needed]
    if snapshot_id is None:
        rows = table.schema().select(*load).as_arrow().empty_table()
    else:
        rows = table.scan(selected_fields=tuple(load), snapshot_id=snapshot_id).to_arrow()
    namespace, short = name.split(".", 1)
    # Denied columns exist only as NULL placeholders, so `* EXCLUDE (denied)` binds.
    select = ", ".join(
        f"NULL AS {_quote(c)}"
        if c in rules and rules[c].denied
        else f"{rules[c].sql(c, salt)} AS {_quote(c)}"
        if c in rules
        else _quote(c)
        for c in available
        if c in wanted or (c in rules and rules[c].denied)
    )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
    con.register("__policy_source", rows)
    try:
        con.execute(
            f"CREATE TABLE {_quote(namespace)}.{_quote(short)} AS SELECT {select} FROM __policy_source"
            + (f" WHERE {row_filter}" if row_filter else "")
        )
    finally:
        con.unregister("__policy_source")


def execute(
    catalog: Catalog,
    persona: Persona,
    sql: str,
    *,
    salt: str,
    as_of: str | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Check `sql` against `persona` and run it (no audit record; see `run_query`).

    Raises:
        QueryRejected: Not a single read-only SELECT over catalog tables.
        QueryDenied: A table or column the persona may not read.
        AsOfError: No snapshot for --as-of.
        duckdb.Error: The SQL failed in DuckDB.
    """
    statement = parse_statement(sql)
    tables = _check_tables(persona, catalog, referenced_tables(statement))
    snapshots = resolve_snapshots(tables, as_of)
    schemas = {name: _schema(t, snapshots[name]) for name, t in tables.items()}
    used = referenced_columns(statement, schemas)
    _check_columns(persona, used, schemas, starred=statement.find(exp.Star) is not None)
    con = duckdb.connect(":memory:")
    try:
        for name, table in tables.items():
            _materialize(con, persona, name, table, snapshots[name], used[name], salt)
        # Nothing outside the policy-shaped tables may be read from here on.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        relation = con.sql(sql)
        if max_rows is not None:
            relation = relation.limit(max_rows + 1)
        rows = relation.fetch_arrow_table()
    finally:
        con.close()
    truncated = max_rows is not None and rows.num_rows > max_rows
    return QueryResult(rows.slice(0, max_rows) if truncated else rows, truncated, snapshots)


def run_query(
    settings: Settings,
    persona_name: str,
    sql: str,
    *,
    as_of: str | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Run a governed query as `persona_name` and record it in `ops.audit_log` (also when denied or failed).

    Args:
        settings: Catalog, personas file, salt and actor.
        persona_name: A persona of the personas file.
        sql: One SELECT over `namespace.table` names.
        as_of: A snapshot id (its table is read as of it) or an ISO timestamp (every table as of
            its latest snapshot at or before it).
        max_rows: Return at most this many rows (`truncated` says if there were more).

    Returns:
        The rows and the snapshot read per table.

    Raises:
        UnknownPersona, QueryRejected, QueryDenied, AsOfError: Nothing ran; the message says why.
        duckdb.Error: The SQL failed.
    """
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    statement = sql.strip()
    try:
        persona = load_policies(settings.personas_file).persona(persona_name)
        result = execute(catalog, persona, statement, salt=settings.pii_salt, as_of=as_of, max_rows=max_rows)
    except (UnknownPersona, QueryRejected, QueryDenied, AsOfError, duckdb.Error) as exc:
        # denied: the policy said no; rejected: not something a governed query may be (not one
        # SELECT, a file-reading function, an unknown persona, table or column); failed: it ran and broke.
        if isinstance(exc, QueryDenied):
            action, outcome = "query_denied", "denied"
        elif isinstance(exc, UnknownPersona | QueryRejected):
            action, outcome = "query_rejected", "refused"
        else:
            action, outcome = "query_failed", "error"
        record_safely(
            settings,
            [
                AuditEvent(
                    action,
                    _tables_or_empty(statement),
                    persona=persona_name,
                    statement=statement,
                    outcome=outcome,
                    message=str(exc),
                )
            ],
            catalog,
        )
        raise
    record_safely(
        settings,
        [
            AuditEvent(
                "query",
                sorted(result.snapshot_ids),
                result.snapshot_ids,
                persona=persona.name,
                statement=statement,
                rows=result.rows.num_rows,
                message=f"as of {as_of}" if as_of else "",
            )
        ],
        catalog,
    )
    return result


def _tables_or_empty(sql: str) -> list[str]:
    try:
        return sorted(referenced_tables(parse_statement(sql)))
    except (QueryRejected, QueryDenied):
        return []
