"""The Dagster runs that failed lately, read from the instance's SQLite storage without importing Dagster.

`foundation status` must stay quick from a cold shell (importing Dagster alone takes longer than
the whole command), so the embedded instance's run storage is read as the SQLite files they are:
`$DAGSTER_HOME/history/runs.db` (runs and their tags) and `history/runs/<run id>.db` (each run's
events, for its first error). An instance whose storage is configured otherwise (PostgreSQL in the
Compose stack) is not read here: the Dagster UI lists its runs.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

DATASET_TAG = "foundation/dataset"
FILE_TAG = "foundation/file"
# Dagster's own wrapper around an error raised in a step: its cause is the error to show.
_WRAPPERS = ("DagsterExecutionStepExecutionError",)
_CONFIGURED_STORAGE = re.compile(r"^(storage|run_storage|event_log_storage)\s*:", re.MULTILINE)
_CLASS_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(\w+): ")  # dagster._core.definitions.events.Failure: ...


def failed_runs(dagster_home: Path, limit: int = 5) -> dict:
    """The newest failed runs of the instance at `dagster_home` (at most `limit`) and how many failed.

    Returns:
        {"storage": "sqlite" | "configured" | "none" | "unreadable", "count": all failed runs, "runs":
        [{"run_id", "failed_at", "started_at", "dataset", "file", "files", "error"}]}: "configured" when
        dagster.yaml names another storage (nothing read), "none" when the instance has no runs yet,
        "unreadable" (with "error") when its SQLite files could not be read. `files` are the landing
        keys of a raw asset's run.
    """
    config = dagster_home / "dagster.yaml"
    if config.is_file() and _CONFIGURED_STORAGE.search(config.read_text(errors="replace")):
        return {"storage": "configured", "count": 0, "runs": []}
    database = dagster_home / "history" / "runs.db"
    if not database.is_file():
        return {"storage": "none", "count": 0, "runs": []}
    try:
        return _read(dagster_home, database, limit)
    except (sqlite3.Error, ValueError) as exc:  # locked past the wait, another schema: status goes on
        return {"storage": "unreadable", "count": 0, "runs": [], "error": f"{database}: {exc}"}


def where_to_look(run_id: str) -> str:
    """Where a failed run's whole log is (the Dagster UI that `make dev` serves)."""
    return f"`make dev`, then http://127.0.0.1:3000/runs/{run_id}"


def headline(text: str) -> str:
    """An error's first line; with the next one when it ends in ':' and so only introduces what failed
    (Dagster's "1 blocking asset check failed with ERROR severity:" names the check on the next line)."""
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    if not lines:
        return ""
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def _read(dagster_home: Path, database: Path, limit: int) -> dict:
    with closing(_read_only(database)) as con:
        (count,) = con.execute("SELECT count(*) FROM runs WHERE status = 'FAILURE'").fetchone()
        rows = con.execute(
            "SELECT run_id, update_timestamp, start_time, run_body FROM runs WHERE status = 'FAILURE' "
            "ORDER BY update_timestamp DESC LIMIT ?",
            (limit,),
        ).fetchall()
        runs = []
        for run_id, failed_at, started, body in rows:
            tags = dict(con.execute("SELECT key, value FROM run_tags WHERE run_id = ?", (run_id,)).fetchall())
            dataset = tags.get(DATASET_TAG)
            runs.append(
                {
                    "run_id": run_id,
                    "failed_at": str(failed_at)[:19],
                    "started_at": started,  # seconds since the epoch (None if Dagster did not record it)
                    "dataset": dataset,
                    "file": tags.get(FILE_TAG),
                    "files": _files(body, dataset) if dataset else [],
                    "error": _first_error(dagster_home / "history" / "runs" / f"{run_id}.db"),
                }
            )
    return {"storage": "sqlite", "count": int(count), "runs": runs}


def _files(body: str | None, dataset: str) -> list[str]:
    """The landing keys a raw asset's run was asked to take (its run config, as Dagster stored it)."""
    try:
        config = json.loads(body or "{}").get("run_config") or {}
        files = config["ops"][f"raw__{dataset}"]["config"]["files"]
    except (ValueError, KeyError, TypeError, AttributeError):  # another job, or no file list
        return []
    return [str(f) for f in files] if isinstance(files, list) else []


def _read_only(path: Path) -> sqlite3.Connection:
    # Read-only and with a short wait: a running `dagster dev` may be writing.
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=2)


def _first_error(events: Path) -> str:
    """The first line of the run's first step failure (else its run failure), without class paths."""
    if not events.is_file():
        return "its events are not in this instance's storage"
    with closing(_read_only(events)) as con:
        rows = con.execute(
            "SELECT dagster_event_type, event FROM event_logs "
            "WHERE dagster_event_type IN ('STEP_FAILURE', 'PIPELINE_FAILURE', 'RUN_FAILURE') ORDER BY id"
        ).fetchall()
    for _kind, body in sorted(rows, key=lambda r: r[0] != "STEP_FAILURE"):  # a step's error first
        entry = json.loads(body)
        event = entry.get("dagster_event") or {}
        error = (event.get("event_specific_data") or {}).get("error")
        while error and error.get("cause") and error.get("cls_name") in _WRAPPERS:
            error = error["cause"]
        text = (error or {}).get("message") or entry.get("user_message") or ""
        line = headline(text)
        if line:
            return _plain(line)
    return "the run failed without an error message"


def _plain(line: str) -> str:
    """An error's first line with its module path dropped, and Dagster's `Failure:` (our own words)."""
    found = _CLASS_PATH.match(line)
    if found:
        rest = line[found.end() :]
        line = rest if found.group(1) == "Failure" else f"{found.group(1)}: {rest}"
    return line
