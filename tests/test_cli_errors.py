"""The CLI never prints a traceback for a user's mistake or a closed pipe: one line, an exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import land, orders_csv


def _foundation(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "FOUNDATION_DATA_DIR": str(data_dir), **env}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "dagster_project", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.mark.slow  # one CLI process per case, each importing Dagster
@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (("release", "raw.nosuch", "audit-x"), {}, "raw.nosuch"),
        (("discard", "raw.orders", "audit-x"), {}, "raw.orders"),
        (("generate", "--out", "ftp://bucket/x"), {}, "scheme 'ftp' is not supported"),
        (("query", "--as", "nobody", "select 1"), {}, "no persona 'nobody'"),
        (("query", "--as", "analyst", "selec 1 frm"), {}, "could not parse"),
        (("status",), {"FOUNDATION_SENSOR_INTERVAL_SECONDS": "soon"}, "FOUNDATION_SENSOR_INTERVAL_SECONDS"),
        (("maintain", "--table", "raw.nosuch"), {}, "raw.nosuch"),
        (("status",), {"FOUNDATION_DUCKDB_MEMORY_LIMIT": "1XB"}, "not a memory size"),
        (("status",), {"FOUNDATION_CATALOG__TYPE": "bogus"}, "FOUNDATION_CATALOG__"),
    ],
    ids=["release", "discard", "generate", "persona", "parse", "setting", "maintain", "memory", "catalog"],
)
def test_a_user_error_is_one_line_and_exit_code_2(tmp_path, args, env, says):
    done = _foundation(tmp_path / "data", *args, **env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr


def test_a_data_folder_that_cannot_be_made_is_one_line(tmp_path):
    done = _foundation(Path("/proc/no-such-folder/data"), "status")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: ") and "/proc/no-such-folder" in done.stderr


@pytest.mark.slow  # 40 ingests, then the CLI in a child process
def test_a_closed_pipe_ends_quietly(tmp_path):
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0)
    registry = load_registry(settings.sources_file)
    for i in range(40):  # enough tables and snapshots for `history` to print well past a pipe's buffer
        land(settings, f"orders/o{i}.csv", orders_csv(i * 10 + 1, 10))
        ingest_dataset(settings, registry["orders"], run_id=f"run-{i}")
    environment = {**os.environ, "FOUNDATION_DATA_DIR": str(settings.data_dir)}
    environment.pop("DAGSTER_HOME", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "dagster_project", "history", "raw.orders", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(10)
    child.stdout.close()  # the reader goes away, like `foundation ... | head -c 10`
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) in (0, 141), stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_query_values_cannot_drive_the_terminal(capsys):
    import pyarrow as pa

    from dagster_project.governance.commands import print_rows

    rows = pa.table({"subject": ["\x1b[2J\x1b[31mURGENT", "two\nlines", "title\x1b]0;pwned\x07"]})
    print_rows(rows, "table")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "two\\x0alines" in out
    assert len(out.strip().splitlines()) == 2 + 3  # header, rule, one line per row


def _one_line(capsys, argv: list[str], code: int = 2) -> str:
    """Run the CLI in this process; the one line it printed to stderr (it must print just one)."""
    from dagster_project.cli import main

    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_a_broken_sources_or_personas_file_is_one_line_naming_its_path_line_and_column(
    data_dir, monkeypatch, capsys
):
    sources = data_dir / "conf" / "sources.yml"
    sources.parent.mkdir()
    sources.write_text("datasets:\n  orders:\n    prefix: orders/\n   format: csv\n")
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(sources))
    line = _one_line(capsys, ["ingest"])
    assert (
        line.startswith(f"error: {sources}, line 4, column 4: not valid YAML (") and "fix that line" in line
    )

    personas = data_dir / "conf" / "p.yml"
    personas.write_text("version: 1\npersonas:\n  analyst: {tables: [raw.*\n")
    monkeypatch.setenv("FOUNDATION_PERSONAS_FILE", str(personas))
    line = _one_line(capsys, ["query", "--as", "analyst", "select 1"])
    assert (
        line.startswith(f"error: {personas}, line 4, column 1: not valid YAML (") and "fix that line" in line
    )


def test_a_folder_as_the_sources_file_is_a_user_error_naming_the_setting(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_SOURCES_FILE", str(data_dir))
    line = _one_line(capsys, ["ingest"])
    assert f"{data_dir} is a folder" in line and "set FOUNDATION_SOURCES_FILE" in line


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_history_refuses_a_limit_below_one(data_dir, capsys, limit):
    from dagster_project.cli import main

    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        main(["history", "raw.orders", "--limit", limit])
    assert exited.value.code == 2
    assert f"argument --limit: {limit} is not a positive whole number" in capsys.readouterr().err


def test_as_of_on_a_query_that_reads_no_table_says_so(data_dir, capsys):
    line = _one_line(capsys, ["query", "--as", "analyst", "--as-of", "123", "select 1"])
    assert line == "error: --as-of 123: the query reads no table; drop --as-of or select from a table"
