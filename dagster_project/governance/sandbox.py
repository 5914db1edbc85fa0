"""Where a governed query runs: an in-memory DuckDB under a time and a memory limit, errors free of values.

DuckDB has no statement timeout, so a timer interrupts the connection at the deadline. Its
`memory_limit` covers only what its buffer manager allocates: a single `repeat('x', 4e9)` goes
around it (measured: 7.6 GB resident, 52 s, not interruptible). So while the tables load and the
query runs, the process's data segment limit (RLIMIT_DATA, Linux) is lowered to what it uses now
plus the query's memory limit: an allocation past it fails at once, and DuckDB, pyarrow and
Python turn that into an out-of-memory error that we report. One governed query at a time runs
per process, since that limit is the process's. Nothing spills to disk either.

DuckDB's messages quote the values they failed on (`Could not convert string 'ada@example.com'
to INT32`); what leaves this module says what went wrong in our words, never with a row value.
"""

from __future__ import annotations

import re
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.errors import FoundationError
from dagster_project.settings import Settings

UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# Serializes governed queries within a process: the data segment limit is per process.
_ONE_AT_A_TIME = threading.Lock()


class QueryLimitExceeded(FoundationError, RuntimeError):
    """The query ran past its time or memory limit and was stopped; the message names the setting."""

    def __init__(self, message: str, limit: str):
        super().__init__(message)
        self.limit = limit  # "time" or "memory"


class QueryFailed(FoundationError, RuntimeError):
    """DuckDB failed on the statement or on a value; the message says how, without any row value."""


class LimitSettingError(FoundationError, ValueError):
    """FOUNDATION_QUERY_MEMORY_LIMIT is not a size."""


def parse_size(text: str) -> int:
    """Bytes in a DuckDB-style size: `2GB` (10^9), `512MiB` (2^20), `1.5GB`, `1000000B`.

    Raises:
        LimitSettingError: It is not a positive size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text or "")
    unit = (match.group(2) or "b").lower() if match else ""
    if not match or unit not in UNITS or float(match.group(1)) <= 0:
        raise LimitSettingError(
            f"FOUNDATION_QUERY_MEMORY_LIMIT={text!r} is not a size; give e.g. 2GB, 512MB or 1GiB"
        )
    return int(float(match.group(1)) * UNITS[unit])


@dataclass(frozen=True)
class QueryLimits:
    """How long and how much memory one governed query may take, loading its tables included."""

    timeout_seconds: float = 60
    memory: str = "2GB"

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        limits = cls(settings.query_timeout_seconds, settings.query_memory_limit)
        parse_size(limits.memory)  # a bad value fails before anything runs
        return limits

    def exceeded(self, limit: str) -> QueryLimitExceeded:
        """The error for running past `limit` ("time" or "memory")."""
        if limit == "time":
            return QueryLimitExceeded(
                f"the query was stopped at its time limit of {self.timeout_seconds:g} s "
                "(FOUNDATION_QUERY_TIMEOUT_SECONDS), loading its tables included; "
                "filter or aggregate more, or raise the setting",
                "time",
            )
        return QueryLimitExceeded(
            f"the query was stopped at its memory limit of {self.memory} (FOUNDATION_QUERY_MEMORY_LIMIT); "
            "select fewer columns or rows, or raise the setting",
            "memory",
        )


@dataclass(frozen=True)
class TableView:
    """A table as a persona sees it: rows to load, the masked columns and the row filter over them."""

    namespace: str
    name: str
    fetch: Callable[[], pa.Table]  # the unrestricted rows of the columns needed (Iceberg scan)
    select: str  # DuckDB select list over those columns: masks applied, denied ones as NULL
    where: str | None = None


def _data_segment() -> int | None:
    """Bytes of this process's data segment (VmData), or None where /proc is not there."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmData:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


@contextmanager
def _memory_ceiling(extra: int) -> Iterator[None]:
    """Let the process's data segment grow by at most `extra` bytes inside the block (Linux)."""
    used = _data_segment()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    ceiling = None if used is None else used + extra
    for bound in (soft, hard):
        if ceiling is not None and bound != resource.RLIM_INFINITY:
            ceiling = min(ceiling, bound)
    if ceiling is None:  # elsewhere, DuckDB's memory_limit is the only bound
        yield
        return
    resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run_governed(
    views: Sequence[TableView], sql: str, limits: QueryLimits, max_rows: int | None, started: float
) -> pa.Table:
    """Load `views` into a fresh in-memory DuckDB, lock it, run `sql`, all under `limits`.

    Args:
        views: The tables the statement reads, as the persona sees them.
        sql: The checked statement.
        limits: Time (counted from `started`) and memory.
        max_rows: Fetch at most this many rows plus one (so the caller can tell there were more).
        started: `time.monotonic()` when the query began.

    Raises:
        QueryLimitExceeded: Past the time or memory limit.
        QueryFailed: DuckDB failed; the message carries no row value.
    """
    memory = parse_size(limits.memory)
    deadline = started + limits.timeout_seconds
    with _ONE_AT_A_TIME:
        con = duckdb.connect(":memory:")
        watchdog = _Watchdog(con, deadline)
        step = "load"
        try:
            con.execute(f"SET memory_limit = '{memory}B'")
            # An in-memory database would spill to ./.tmp (the working directory), past every limit.
            con.execute("SET temp_directory = ''")
            watchdog.start()  # before the ceiling: its thread's stack is not the query's
            with _memory_ceiling(memory):
                for view in views:
                    step = f"view:{view.namespace}.{view.name}"
                    _load(con, view, lambda: watchdog.check(limits))
                # Nothing outside the policy-shaped tables may be read from here on.
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
                step = "bind"
                relation = con.sql(sql)
                if max_rows is not None:
                    relation = relation.limit(max_rows + 1)
                step = "run"
                return relation.fetch_arrow_table()
        except (duckdb.Error, MemoryError, pa.ArrowMemoryError) as exc:
            raise _translate(exc, step, limits, watchdog.fired.is_set()) from None
        finally:
            watchdog.stop()
            con.close()


class _Watchdog:
    """Interrupts the connection from the deadline on, again and again until the query is over.

    One interrupt could land between two statements (while a table loads in pyiceberg, say) and
    be lost; repeating it until `stop` means the statement running then is stopped too.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, deadline: float):
        self.fired = threading.Event()
        self._con, self._deadline, self._done = con, deadline, threading.Event()
        self._thread = threading.Thread(target=self._watch, name="governed-query-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        if self._done.wait(max(self._deadline - time.monotonic(), 0)):
            return
        self.fired.set()
        while True:
            self._con.interrupt()
            if self._done.wait(0.05):
                return

    def check(self, limits: QueryLimits) -> None:
        """Raise the time limit's error once the deadline has passed (between loading steps)."""
        if self.fired.is_set() or time.monotonic() > self._deadline:
            raise limits.exceeded("time")

    def stop(self) -> None:
        """End the watch; the connection may be closed once this returns."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def _load(con: duckdb.DuckDBPyConnection, view: TableView, check_time: Callable[[], None]) -> None:
    rows = view.fetch()
    check_time()  # the Iceberg scan is not DuckDB's to interrupt
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(view.namespace)}")
    con.register("__policy_source", rows)
    try:
        con.execute(
            f"CREATE TABLE {_quote(view.namespace)}.{_quote(view.name)} AS "
            f"SELECT {view.select} FROM __policy_source" + (f" WHERE {view.where}" if view.where else "")
        )
    finally:
        con.unregister("__policy_source")
        del rows
    check_time()


# DuckDB errors of parsing or binding SQL (a persona's mask or filter that names no column, say).
STATEMENT_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)


def _translate(exc: BaseException, step: str, limits: QueryLimits, timed_out: bool) -> FoundationError:
    """Our error for what went wrong in `step`: load, view:<table>, bind or run."""
    if timed_out:
        return limits.exceeded("time")
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError | pa.ArrowMemoryError):
        return limits.exceeded("memory")
    if isinstance(exc, duckdb.InterruptException):
        return QueryFailed("the query was interrupted")
    kind, first = _kind_and_first_line(str(exc))
    if step == "bind" or (step.startswith("view:") and isinstance(exc, STATEMENT_ERRORS)):
        # Raised while binding, before any row is read: about the SQL (names, types), so it stays.
        # (A view's mask or filter is bound and run in one call, hence the check of the class.)
        table = step.removeprefix("view:")
        where = f"the persona's view of {table}" if step.startswith("view:") else "the statement"
        return QueryFailed(f"DuckDB could not run {where}: {kind}: {first[:300]}")
    what = value_free_description(exc, first)
    if step.startswith("view:"):
        return QueryFailed(
            f"the persona's view of {step.removeprefix('view:')} failed ({kind}: {what}); "
            "check its masks and row filter in the personas file"
        )
    return QueryFailed(f"the query failed on a value ({kind}: {what}); the value is not shown")


def _kind_and_first_line(message: str) -> tuple[str, str]:
    first = message.strip().splitlines()[0] if message.strip() else ""
    kind, sep, rest = first.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z ]+ Error", kind):
        return kind, rest
    return "Error", first


# Types a conversion message may name (`... to INT32`, `... destination type DECIMAL(10,2)`): only
# these are kept, so a value shaped like a type name cannot pass for one.
KNOWN_TYPES = frozenset(
    "BIGINT BIT BLOB BOOLEAN DATE DECIMAL DOUBLE FLOAT HUGEINT INT128 INT16 INT32 INT64 INT8 INTEGER "
    "INTERVAL JSON SMALLINT TIME TIMESTAMP TIMESTAMP_MS TIMESTAMP_NS TIMESTAMP_S TIMESTAMP_TZ TINYINT "
    "UBIGINT UHUGEINT UINT128 UINT16 UINT32 UINT64 UINT8 UINTEGER USMALLINT UTINYINT UUID VARCHAR".split()
)
TARGET_TYPE = re.compile(
    r"(?:\bto|destination type) ([A-Z][A-Z0-9_]*)(\(\d+(?:, ?\d+)?\))?(?= when casting|$)"
)


def value_free_description(exc: BaseException, first_line: str) -> str:
    """What a DuckDB execution error means, in words that cannot carry a row value.

    DuckDB quotes values in single or double quotes, unquoted (`error(email)`, overflow
    operands, a regular expression taken from a column) or in a context line, so nothing of its
    text is kept but the name of a known type it converted to.
    """
    if isinstance(exc, duckdb.ConversionException):
        target = "the type asked for"
        for match in TARGET_TYPE.finditer(first_line):
            if match.group(1) in KNOWN_TYPES:
                target = match.group(1) + (match.group(2) or "")
        return f"a value could not be converted to {target}"
    if isinstance(exc, duckdb.OutOfRangeException):
        return "a value is out of range for its type (an overflow in arithmetic or a cast)"
    if isinstance(exc, duckdb.InvalidInputException):
        return "a function was given input it cannot use (malformed JSON, a date not in the format, error())"
    return "DuckDB stopped on the data"
