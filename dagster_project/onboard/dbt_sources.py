"""dbt's `raw` sources, generated from the source registry: `dbt_project/models/staging/__sources.yml`.

The registry is the one declaration of a dataset; this file is its copy in dbt's words, written by
`foundation sources add` and by `make setup` (before `dbt parse`) and under `dagster dev` (before
its parse), so it is never edited by hand and never stale. Hand-written sources (whole-table
lookups) live beside it in `__lookups.yml`.

    python -m dagster_project.onboard.dbt_sources [--check]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, duckdb_type
from dagster_project.registry import Registry, load_registry
from dagster_project.settings import DBT_PROJECT_DIR, load_settings


class DbtProjectInvalid(FoundationError):
    """The dbt project does not parse (a model or its YAML is wrong); the message says which."""


SOURCES_FILE = Path("models") / "staging" / "__sources.yml"
HEADER = """\
# Generated from the source registry (dagster_project/sources.yml, or FOUNDATION_SOURCES_FILE) by
# `foundation sources add` and `make setup`: do not edit, change the registry. Hand-written
# sources are in __lookups.yml.
version: 2

sources:
  - name: raw
    description: >
      Raw Iceberg tables landed by the Dagster raw assets (one per registry dataset). Read through
      the foundation plugin, which yields only the rows committed after the watermark recorded by
      the consuming staging table (`consumer`), so staging models are incremental over raw commits.
    config:
      meta:
        plugin: foundation
    tables:
"""
SEQUENCE = (
    "          - {name: _raw_sequence_number, data_type: bigint, description: Sequence number of the raw "
    "commit that added the row (added by the plugin).}\n"
)


def _scalar(text: str) -> str:
    return text if re.fullmatch(r"[a-z_][a-z0-9_]*", text) else f'"{text}"'


def render_dbt_sources(registry: Registry) -> str:
    """The text of `__sources.yml` for a registry: one `raw` table per dataset, its columns and types."""
    lines = [HEADER]
    for dataset in registry:
        name = dataset.name
        lines.append(
            f"      - name: {name}\n"
            f"        meta: {{iceberg_table: raw.{name}, consumer: staging.stg_{name}, "
            f'dagster: {{asset_key: ["raw", "{name}"]}}}}\n'
            "        columns:\n"
        )
        columns = [(c.name, c.type) for c in dataset.columns] + [(n, t) for n, t, _ in LINEAGE_FIELDS]
        for column, kind in columns:
            lines.append(f"          - {{name: {column}, data_type: {_scalar(duckdb_type(kind).lower())}}}\n")
        lines.append(SEQUENCE)
    return "".join(lines)


def write_dbt_sources(registry: Registry, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Write `__sources.yml` for the registry unless it is already so; returns whether it wrote."""
    path = project_dir / SOURCES_FILE
    text = render_dbt_sources(registry)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _inputs(project_dir: Path, sources_file: Path) -> list[Path]:
    """What the manifest is made from: the registry, the project file, every model and macro."""
    files = [sources_file, project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros"):
        files += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return files


def manifest_current(manifest: Path, sources_file: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Whether `manifest` exists and is newer than every file it is made from (no parse needed)."""
    if not manifest.exists():
        return False
    newest = max(p.stat().st_mtime for p in _inputs(project_dir, sources_file) if p.exists())
    return manifest.stat().st_mtime >= newest


def refresh_manifest(sources_file: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Regenerate the sources and re-parse the dbt project when its manifest is older than its inputs.

    What `make setup` does, for the command line: after `foundation sources add` (a new staging
    model) or an edit to the registry, `foundation ingest` and `foundation demo` build from a
    manifest that knows it. Holds a lock so two commands do not parse into one target at once.

    Returns:
        Whether the manifest was made again.
    """
    manifest = project_dir / "target" / "manifest.json"
    (project_dir / "target").mkdir(exist_ok=True)
    with open(project_dir / "target" / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wrote = write_dbt_sources(load_registry(sources_file), project_dir)
        if not wrote and manifest_current(manifest, sources_file, project_dir):
            return False
        dbt = Path(sys.executable).with_name("dbt")
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run(
            [str(dbt), "parse", "--quiet", "--profiles-dir", "."],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            first = next((line for line in done.stdout.splitlines() if line.strip()), "no output")
            raise DbtProjectInvalid(
                f"{project_dir}: `dbt parse` failed: {first.strip()}; fix the model or its YAML "
                f"(`cd {project_dir.name} && dbt parse --profiles-dir .` shows the whole message)"
            )
        manifest.touch()
        return True


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, only compare) the dbt sources of the configured registry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not the generated one")
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT_DIR)
    args = parser.parse_args(argv)
    registry = load_registry(load_settings().sources_file)
    path = args.project_dir / SOURCES_FILE
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != render_dbt_sources(registry):
            print(f"{path} is stale: run `python -m dagster_project.onboard.dbt_sources`", file=sys.stderr)
            return 1
        return 0
    if write_dbt_sources(registry, args.project_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
