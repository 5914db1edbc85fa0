"""Governed queries: one read-only SELECT, checked against a persona's policy, run in DuckDB.

Each table a statement reads is loaded from Iceberg (only the columns it needs) into an
in-memory DuckDB as the persona may see it: row filter applied, masks applied, denied columns
absent. The raw rows are dropped before the user's SQL runs, and DuckDB is locked against
reading files, so the checks below give clear messages and the data itself cannot leak. It runs
under a time and a memory limit (`sandbox.py`), and every outcome is one row in `ops.audit_log`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import sqlglot
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from dagster_project.errors import FoundationError
from dagster_project.governance.policy import Persona, QueryDenied, load_policies
from dagster_project.governance.salt import pii_salt
from dagster_project.governance.sandbox import (
    QueryFailed,
    QueryLimitExceeded,
    QueryLimits,
    TableView,
    run_governed,
)
from dagster_project.governance.sql import (
    ALLOWED_TABLE_FUNCTIONS,
    DIALECT,
    forbidden_function,
    parse_expression,
)
from dagster_project.governance.sql import referenced_columns as columns_of
from dagster_project.governance.time_travel import AsOfError, resolve_snapshots
from dagster_project.identity import acting_as, current_identity, data_dir_owner
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_safely
from dagster_project.settings import Settings

QUERY_ROOTS = (exp.Select, exp.SetOperation)
# What callers catch comes from here too (the errors live with the parts that raise them).
__all__ = [
    "AsOfError",
    "QueryDenied",
    "QueryFailed",
    "QueryLimitExceeded",
    "QueryRejected",
    "QueryResult",
    "execute",
    "run_query",
]


class QueryRejected(FoundationError, ValueError):
    """The statement is not one read-only SELECT over catalog tables; nothing ran."""


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
    except SqlglotError as exc:  # a parse error, or one in tokenizing (an unclosed quote or comment)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QueryRejected(f"could not parse the statement: {first}") from None
    except RecursionError:
        raise QueryRejected("could not parse the statement: it is nested too deeply") from None
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
    except SqlglotError as exc:
        raise QueryRejected(f"{exc}; readable columns: {_columns_help(schemas)}") from None
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


def _excluded(statement: exp.Expression) -> set[str]:
    """Column names a `* EXCLUDE (...)` of the statement names: they must exist to be excluded."""
    return {column.name for star in statement.find_all(exp.Star) for column in star.args.get("except_") or []}


def _view(
    persona: Persona,
    name: str,
    table: Table,
    snapshot_id: int | None,
    columns: set[str],
    salt: str,
    excluded: frozenset[str] = frozenset(),
) -> TableView:
    """`name` as the persona sees it: filtered, masked, only the columns needed."""
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
    load = tuple(c for c in available if c in needed)

    def fetch() -> pa.Table:
        if snapshot_id is None:
            return table.schema().select(*load).as_arrow().empty_table()
        return table.scan(selected_fields=load, snapshot_id=snapshot_id).to_arrow()

    # Denied columns, and columns the statement only excludes, exist as NULL placeholders, so that
    # `* EXCLUDE (...)` binds; no value of theirs is loaded.
    select = ", ".join(
        f"NULL AS {_quote(c)}"
        if (c in rules and rules[c].denied) or c not in wanted
        else f"{rules[c].sql(c, salt)} AS {_quote(c)}"
        if c in rules
        else _quote(c)
        for c in available
        if c in wanted or (c in rules and rules[c].denied) or c in excluded
    )
    namespace, short = name.split(".", 1)
    return TableView(namespace, short, fetch, select, row_filter)


def execute(
    catalog: Catalog,
    persona: Persona,
    sql: str,
    *,
    salt: str,
    as_of: str | None = None,
    max_rows: int | None = None,
    limits: QueryLimits | None = None,
) -> QueryResult:
    """Check `sql` against `persona` and run it under `limits` (no audit record; see `run_query`).

    Raises:
        QueryRejected: Not a single read-only SELECT over catalog tables.
        QueryDenied: A table, column or snapshot the persona may not read.
        AsOfError: No snapshot for --as-of.
        QueryLimitExceeded: Past the time or memory limit (loading the tables included).
        QueryFailed: DuckDB failed (the message carries no row value).
    """
    started = time.monotonic()
    statement = parse_statement(sql)
    try:
        tables = _check_tables(persona, catalog, referenced_tables(statement))
        snapshots = resolve_snapshots(tables, as_of, persona=persona.name, read_held=persona.read_held)
        schemas = {name: _schema(t, snapshots[name]) for name, t in tables.items()}
        used = referenced_columns(statement, schemas)
        _check_columns(persona, used, schemas, starred=statement.find(exp.Star) is not None)
    except RecursionError:  # sqlglot walks the tree recursively; a parse may get deeper than a walk
        raise QueryRejected("the statement is nested too deeply to check; simplify it") from None
    excluded = frozenset(_excluded(statement))
    views = [
        _view(persona, name, t, snapshots[name], used[name], salt, excluded) for name, t in tables.items()
    ]
    rows = run_governed(views, sql, limits or QueryLimits(), max_rows, started)
    truncated = max_rows is not None and rows.num_rows > max_rows
    return QueryResult(rows.slice(0, max_rows) if truncated else rows, truncated, snapshots)


def run_query(
    settings: Settings,
    persona_name: str,
    sql: str,
    *,
    as_of: str | None = None,
    max_rows: int | None = None,
    identity: str | None = None,
) -> QueryResult:
    """Run a governed query as `persona_name` and record it in `ops.audit_log` (also when refused or failed).

    Args:
        settings: Catalog, personas file, salt and limits.
        persona_name: A persona of the personas file.
        sql: One SELECT over `namespace.table` names.
        as_of: A snapshot id (its table is read as of it) or an ISO timestamp (every table as of
            its latest main snapshot at or before it).
        max_rows: Return at most this many rows (`truncated` says if there were more).
        identity: Who asks, when a service authenticated them; default: the OS account (see
            `identity.acting_as`). The persona's `identities` must allow it; the audit row names it.

    Returns:
        The rows and the snapshot read per table.

    Raises:
        FoundationError: Refused, denied (`QueryDenied`), past a limit (`QueryLimitExceeded`) or
            failed (`QueryFailed`); one line saying why, with no row value. Recorded either way.
    """
    if identity is not None:
        with acting_as(identity):
            return run_query(settings, persona_name, sql, as_of=as_of, max_rows=max_rows)
    from dagster_project.lakehouse.tables import open_catalog

    catalog = open_catalog(settings)
    statement = sql.strip()
    try:
        persona = load_policies(settings.personas_file).persona(persona_name)
        persona.check_identity(current_identity(), data_dir_owner(settings))
        result = execute(
            catalog,
            persona,
            statement,
            salt=pii_salt(settings) if persona.hashes() else "",
            as_of=as_of,
            max_rows=max_rows,
            limits=QueryLimits.from_settings(settings),
        )
    except Exception as exc:
        action, outcome, message = _outcome(exc)
        event = AuditEvent(
            action,
            _tables_or_empty(statement),
            persona=persona_name,
            statement=statement,
            outcome=outcome,
            message=message,
        )
        record_safely(settings, [event], catalog)
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


def _outcome(exc: Exception) -> tuple[str, str, str]:
    """Action, outcome and message of a query that did not return rows.

    denied: the policy said no (a table, column or snapshot; the identity may not act as the
    persona); rejected: not something a governed query may be (not one SELECT, unparsable, a
    file-reading function, an unknown persona, table or column, a broken personas file); failed:
    it ran and stopped (a limit, a DuckDB error, no snapshot for --as-of). Our errors never carry
    row values; anything else is recorded by its type only.
    """
    if isinstance(exc, QueryDenied):
        return "query_denied", "denied", str(exc)
    if isinstance(exc, QueryLimitExceeded):
        return "query_failed", "limit", str(exc)
    if isinstance(exc, AsOfError | QueryFailed):
        return "query_failed", "error", str(exc)
    if isinstance(exc, FoundationError):
        return "query_rejected", "refused", str(exc)
    return "query_failed", "error", f"internal error ({type(exc).__name__}); see the logs"


def _tables_or_empty(sql: str) -> list[str]:
    try:
        return sorted(referenced_tables(parse_statement(sql)))
    except (FoundationError, RecursionError):
        return []
