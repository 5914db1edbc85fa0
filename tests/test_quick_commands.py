"""Quick commands import only what they use: a cold `foundation status` or `--help` is mostly imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.settings import Settings
from tests.conftest import land
from tests.lakehouse.test_evolution import ingest, meters, write_registry  # noqa: F401

# What `foundation status` never needs: the orchestrator, dbt, the quality engine, the query and
# search engines, the embedder, S3 clients, and the docs server (http.server) or an HTTP client.
NOT_FOR_STATUS = (
    "dagster",
    "dbt",
    "great_expectations",
    "duckdb",
    "lancedb",
    "torch",
    "sentence_transformers",
    "sqlglot",
    "boto3",
    "botocore",
    "requests",
    "http.server",
)
# `foundation --help` parses arguments only: not even the lakehouse's libraries.
NOT_FOR_HELP = (*NOT_FOR_STATUS, "pyiceberg.catalog", "pyarrow", "sqlalchemy", "pandas", "numpy")

RUN = """
import json, sys
from dagster_project.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:  # --help
    code = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def _imported(settings: Settings, tmp_path: Path, *args: str) -> set[str]:
    """The modules a fresh `foundation ARGS` process imported (it must exit 0)."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(report), *args],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["code"] == 0, done.stdout + done.stderr[-2000:]
    return set(result["modules"])


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_status_reads_the_tables_and_the_quarantine_without_importing_what_it_does_not_need(
    meters: Settings,  # noqa: F811
    tmp_path: Path,
):
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/good.csv", "id,reading\n1,3\n")
    land(meters, "meters/planes.csv", "id,reading\n1,3000000000\n")
    assert len(ingest(meters, "r1").quarantined) == 1  # so status reads ops.quarantine's rows

    modules = _imported(meters, tmp_path, "status")
    assert "pyiceberg.catalog" in modules  # it did read the catalog
    assert _heavy(modules, NOT_FOR_STATUS) == []


def test_help_imports_no_lakehouse_library(meters: Settings, tmp_path: Path):  # noqa: F811
    assert _heavy(_imported(meters, tmp_path, "--help"), NOT_FOR_HELP) == []
