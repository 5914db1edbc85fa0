"""DuckDB's errors on reading a landed file, judged: the environment's (raised) or the file's (a reason).

A file's problem becomes a quarantine reason and a message a person can act on: the file, the line
an editor shows (DuckDB counts records, not lines: see `lines.py`), the cause in words and the fix.
DuckDB's own text is never passed on as it is: it dumps the reader's options and state, suggests
options the platform does not offer ("Possible fixes: strict_mode=false"), and quotes rows, keys'
values and strings of the file, which may be personal data.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import duckdb

from dagster_project.errors import EnvironmentFailure
from dagster_project.ingest.lines import first_non_object_line, record_lines
from dagster_project.registry import Dialect

# OS errors that say something about the machine, not about the file: retry, never quarantine.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EIO,
    errno.EROFS,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOMEM,
}
_ENVIRONMENT_TEXT = re.compile(
    r"No space left|Disk quota|Permission denied|Read-only file system|Too many open files|"
    r"Input/output error|Cannot allocate memory|max_temp_directory_size|out of memory|"
    r"failed to offload|Could not (write|create|open) (to )?(temporary|temp)",
    re.IGNORECASE,
)
# A query stopped by `interrupt()` or by a signal (DuckDB checks Python's signal handlers while it
# runs, and one that raises ends the query as a RuntimeError, "Query interrupted", caused by what the
# handler raised; a streamed Arrow read reports "INTERRUPT Error" as an OSError): never the file's fault.
_INTERRUPTED = re.compile(r"^(Query interrupted|INTERRUPT Error)")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_JSON_AT = re.compile(r"at byte (\d+) in line (\d+): (.*?)\.?\s*(?:Try |\n|$)")
_JSON_LINE = re.compile(r"in line (\d+)")
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_LINE_SIZE = re.compile(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)")
_DUPLICATE_KEY = re.compile(r'has duplicate key "((?:[^"\\]|\\.)*)"')
_RECORD_LIMIT = "FOUNDATION_MAX_RECORD_BYTES"


class FileRejected(Exception):
    """A landed file cannot be ingested; it goes to quarantine with this reason."""

    def __init__(
        self,
        reason: str,
        message: str,
        line: int | None = None,
        column: str | None = None,
        row_data: str | None = None,
    ):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.line = line
        self.column = column
        self.row_data = row_data  # a type conflict's first row, to shape the fix (never quoted)


def without_values(text: str) -> str:
    """Text with quoted literals (which may be row values, even personal data) blanked."""
    return _QUOTED.sub("'…'", text)


def environment_failure(exc: BaseException, label: str, settings_hint: str = "") -> EnvironmentFailure | None:
    """The environment failure behind `exc`, or None when the file itself is the problem.

    Memory limits, a full disk, permissions, I/O errors and an interrupted DuckDB query say nothing
    about the file: the run fails and retries, and the file stays due.

    Raises:
        BaseException: The stop request behind an interrupted query (KeyboardInterrupt, Dagster's
            DagsterExecutionInterruptedError when a run is terminated), so that it stops as asked.
    """
    if isinstance(exc, MemoryError | duckdb.OutOfMemoryException):
        what = "ran out of memory"
    elif isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        what = f"hit an operating-system error ({errno.errorcode.get(exc.errno or 0, exc.errno)})"
    elif interrupted(exc):
        stop = exc.__cause__ or exc.__context__
        if stop is not None and not isinstance(stop, Exception):
            # The signal's handler asked to stop (Ctrl-C, a run being terminated: KeyboardInterrupt,
            # Dagster's DagsterExecutionInterruptedError): stop as asked, not retry.
            raise stop
        return EnvironmentFailure(
            f"{label}: DuckDB's query was interrupted ({type(exc).__name__}: {_first_words(str(exc))}); "
            "this is not a problem of the data, which stays due: the step is retried, and the next run "
            "ingests it"
        )
    elif isinstance(exc, duckdb.IOException | duckdb.Error) and _ENVIRONMENT_TEXT.search(str(exc)):
        what = "hit a machine limit"
    else:
        return None
    cause = without_values(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return EnvironmentFailure(
        f"{label}: reading it {what} ({cause}); this is not a problem of the file, which stays due: free "
        f"disk or memory{settings_hint} and the next run ingests it"
    )


def interrupted(exc: BaseException) -> bool:
    """Whether `exc` is DuckDB's query being interrupted (not any other RuntimeError or OSError)."""
    if isinstance(exc, duckdb.InterruptException):
        return True
    # Exactly these types: EnvironmentFailure is a RuntimeError too, and others may say "interrupted".
    return type(exc) in (RuntimeError, OSError) and _INTERRUPTED.match(str(exc)) is not None


def declare_encoding(path: Path | None, dataset: str) -> str:
    """The fix for text that is not UTF-8: the registry's `encoding` it reads in, then a retry.

    Of the single-byte encodings the registry knows, CP-1252 and Latin-1 read every byte and agree
    except on 0x80-0x9F (CP-1252's curly quotes, dashes and euro sign; Latin-1's control codes):
    such bytes make it CP-1252, their absence makes both right.
    """
    encoding = "latin-1"
    if path is not None:
        with open(path, "rb") as handle:
            head = handle.read(1 << 20)
        try:
            if any(0x80 <= byte <= 0x9F for byte in head) and head.decode("cp1252", errors="strict"):
                encoding = "cp1252"
        except UnicodeDecodeError:
            pass
    return (
        f"declare its encoding in the dataset's registry entry (`encoding: {encoding}`, which it reads "
        f"in; utf-16 and the others are listed in the README) and run `foundation retry {dataset}`, "
        "or re-export the file as UTF-8"
    )


def reject_from(
    error: Exception,
    label: str,
    paths: tuple[Path, ...] = (),
    fmt: str = "csv",
    dialect: Dialect | None = None,
    dataset: str = "<dataset>",
) -> FileRejected:
    """DuckDB's error on reading a file as a quarantine reason (environment failures are raised).

    Args:
        error: What DuckDB raised.
        label: The landing key as safe text.
        paths: The landed file's local path first (and any scratch alias of it).
        fmt: The registry format: `csv`, `jsonl` or `parquet`.
        dialect: The registry's dialect of the dataset (CSV delimiter, quoting, header, skipped lines).
        dataset: The dataset's name, for the commands a fix names.

    Raises:
        EnvironmentFailure: The error is the machine's, not the file's.
    """
    environment = environment_failure(error, label)
    if environment is not None:
        raise environment from error
    text = str(error)
    for path in paths:  # DuckDB names our path; the message names the landing key
        text = text.replace(str(path), label)
    path = paths[0] if paths else None
    if fmt == "parquet":
        reason, line, cause, fix = _parquet(text)
    elif fmt == "jsonl":
        reason, line, cause, fix = _json(text, path, dataset)
    else:
        reason, line, cause, fix = _csv(text, path, dialect or Dialect(), dataset)
    where = f" line {line}:" if line else ""
    return FileRejected(reason, f"{label}:{where} {cause}; {fix}", line=line)


def _csv(text: str, path: Path | None, dialect: Dialect, dataset: str) -> tuple[str, int | None, str, str]:
    found = _CSV_LINE.search(text)
    line = None
    if found and path is not None:
        # DuckDB's "line" is the record (header 1, blank, skipped and comment lines counted).
        record = int(found.group(1))
        line = record_lines(path, "csv", [record], dialect=dialect, skip_blank=False, count_skipped=True).get(
            record
        )
    delimiter = dialect.delimiter
    quote = "double quotes" if dialect.quote == '"' else f"the registry's quote character ({dialect.quote})"
    quoting = f"put values holding '{delimiter}', quotes or line breaks in {quote}"
    columns = _COLUMNS.search(text)
    size = _LINE_SIZE.search(text)
    if "Invalid unicode" in text or "not utf-8 encoded" in text:
        return "encoding", line, "bytes that are not UTF-8 text", declare_encoding(path, dataset)
    if size:
        # DuckDB's limit has room for line breaks (convert.py checks single lines exactly): this is a
        # record whose quoted values span lines.
        actual = int(size.group(2))
        cause = f"a record of {actual:,} bytes over its lines, more than a record may have ({_RECORD_LIMIT})"
        return "too_large", line, cause, f"split the record, or raise {_RECORD_LIMIT}"
    if columns:
        wanted, got = int(columns.group(1)), int(columns.group(2))
        # Past the header's count DuckDB stops counting: its 'Found' is not the row's.
        if dialect.header:
            cause = (
                f"more values than the header's {wanted} columns"
                if got > wanted
                else f"{got} value(s) where the header has {wanted} columns"
            )
        else:
            cause = (
                f"{'more values than' if got > wanted else f'{got} value(s) for'} the {wanted} columns the "
            )
            cause += "registry declares (the file has no header: csv: header: false)"
        return "unreadable", line, cause, f"{quoting}, and give every row one value per column"
    if "unterminated quote" in text:
        cause = "a quoted value is not closed, or text follows its closing quote"
        return "unreadable", line, cause, f'{quoting}, and double a quote inside a quoted value ("")'
    if "state machine" in text and path is not None:
        changed = _line_ending_change(path)
        if changed:
            line, now, before = changed
            cause = f"the line endings change within the file ({now} here, {before} on line 1)"
            return "unreadable", line, cause, "re-export the file with one kind of line ending"
        cause = "a carriage return (\\r) or a quote where the CSV rules (RFC 4180) allow none"
        return "unreadable", line, cause, f"{quoting}, and end lines with \\n or \\r\\n throughout"
    cause = f"not CSV with the registry's dialect ({_first_words(text)})"
    fix = f"check the delimiter ('{delimiter}') and quoting against the source registry"
    return "unreadable", line, cause, fix


def _line_ending_change(path: Path) -> tuple[int, str, str] | None:
    """The first line whose ending differs from line 1's (outside quotes or not), as (line, now, before)."""
    names = {b"\r\n": "\\r\\n", b"\n": "\\n", b"\r": "\\r"}
    first: bytes | None = None
    number = 1
    with open(path, "rb") as handle:
        data = handle.read(64 << 20)  # enough to find where an export changed its mind
    for match in re.finditer(rb"\r\n|\n|\r", data):
        ending = match.group()
        if first is None:
            first = ending
        elif ending != first:
            return number, names[ending], names[first]
        number += 1
    return None


def _json(text: str, path: Path | None, dataset: str) -> tuple[str, int | None, str, str]:
    line = None
    fix = "give each line one JSON object (lines end with \\n)"
    at = _JSON_AT.search(text)
    found = _JSON_LINE.search(text)
    if (at or found) and path is not None:
        # A syntax error says "line n + 1" for the n-th record, a transform error "line n" (blank
        # lines skipped in both).
        record = int(at.group(2)) - 1 if at else int(found.group(1))  # type: ignore[union-attr]
        line = record_lines(path, "jsonl", [record]).get(record) if record > 0 else None
    if "expected records, but got non-record JSON" in text or "Expected OBJECT, but got" in text:
        line = first_non_object_line(path) if path is not None else line
        return "unreadable", line, "a line that is not a JSON object (a list, string or number)", fix
    duplicate = _DUPLICATE_KEY.search(text)
    if duplicate:
        key = duplicate.group(1)[:100]
        cause = f'an object with the key "{key}" twice'
        return "unreadable", line, cause, "keep one of the two in the export"
    if "maximum_object_size" in text:
        cause = f"a record longer than the bytes one record may have ({_RECORD_LIMIT})"
        return "too_large", line, cause, f"split the record, or raise {_RECORD_LIMIT}"
    cause = at.group(3) if at else _first_words(text)
    if "byte order mark" in cause:
        return "encoding", line, "a byte order mark (BOM)", "save the file as UTF-8 without a BOM"
    if "UTF-8" in cause:
        return "encoding", line, "bytes that are not UTF-8 text", declare_encoding(path, dataset)
    if "surrogate" in cause:
        cause = "an escaped UTF-16 surrogate (\\ud800-\\udfff) without its pair: not a character"
        return "encoding", line, cause, "fix the escape, or write the character itself as UTF-8"
    if "after document" in cause:
        return "unreadable", line, "more than one JSON value on the line", fix
    where = f" at byte {at.group(1)} of the line" if at else ""
    return "unreadable", line, f"not valid JSON: {cause}{where}", fix


def _parquet(text: str) -> tuple[str, int | None, str, str]:
    fix = "re-export the file from its source and land it again"
    if "string encoding" in text or "not valid UTF8" in text:
        return "encoding", None, "a text column holds bytes that are not UTF-8", fix
    if "decompression" in text.lower():
        return "unreadable", None, "a compressed data page is damaged", fix
    if "Could not read enough bytes" in text or "truncated" in text.lower():
        return "unreadable", None, "the file ends before its data does (truncated)", fix
    if "TProtocolException" in text or "don't know what type" in text or "metadata" in text.lower():
        return "unreadable", None, "its metadata (the footer describing columns and pages) is damaged", fix
    return "unreadable", None, f"not a Parquet file DuckDB can decode ({_first_words(text)})", fix


def _first_words(text: str) -> str:
    """The first line of DuckDB's text without its error class, quoted parts or anything after a colon."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    first = without_values(first).split(":")[0].strip().rstrip(".")
    return "".join(c if c.isprintable() else "?" for c in first)[:200]
