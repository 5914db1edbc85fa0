"""`foundation sources add NAME --prefix PREFIX`: infer a source from its landed files and declare it.

It writes four files and regenerates a fifth, each from what was inferred or from the registry:
the registry entry (`sources.yml`), the starter suite `expectations/raw.NAME.json`, the staging
model `stg_NAME.sql` with its `stg_NAME.yml`, and dbt's `__sources.yml`. It is idempotent (the same
landed files give the same files: "no changes"), `--dry-run` prints the diff and writes nothing, and
a source declared already with something else (a reviewed entry, an edited suite or model) is left
alone unless `--force` replaces it.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dagster_project.onboard.dbt_sources import SOURCES_FILE, render_dbt_sources
from dagster_project.onboard.declare import registry_entry, with_entry
from dagster_project.onboard.infer import Inferred, infer_source
from dagster_project.onboard.landed import OnboardError
from dagster_project.onboard.staging import render_model, render_model_yaml
from dagster_project.onboard.suite import render_suite
from dagster_project.quality.suites import parse_suite
from dagster_project.registry import FORMATS, LINEAGE_COLUMNS, NAME, Registry, RegistryError, load_registry
from dagster_project.settings import DBT_PROJECT_DIR, PROJECT_DIR, Settings


@dataclass(frozen=True)
class Change:
    """One file `sources add` writes: its text now (None: it does not exist) and after."""

    path: Path
    old: str | None
    new: str

    def diff(self) -> str:
        label = shown(self.path)
        old = (self.old or "").splitlines(keepends=True)
        fromfile = label if self.old is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, self.new.splitlines(keepends=True), fromfile, label))


@dataclass(frozen=True)
class Plan:
    """What `sources add` inferred, and the files it would change (none: nothing to do)."""

    name: str
    inferred: Inferred
    changes: list[Change]


def shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _parsed(text: str, path: Path) -> Registry:
    """The registry the new text declares, checked by the registry's own parser."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=path.parent, delete=False) as handle:
        handle.write(text)
    try:
        return load_registry(Path(handle.name))
    except RegistryError as exc:
        raise RegistryError(str(exc).replace(handle.name, str(path))) from exc
    finally:
        os.unlink(handle.name)


def plan_source(
    settings: Settings,
    name: str,
    prefix: str,
    *,
    fmt: str | None = None,
    force: bool = False,
    dbt_project_dir: Path = DBT_PROJECT_DIR,
) -> Plan:
    """Infer the source and the files that declare it, without writing anything.

    Args:
        settings: The landing zone, the registry file and the expectations folder.
        name: The dataset name (lower_snake_case; the table becomes `raw.NAME`).
        prefix: Where its files landed, relative to the landing root.
        fmt: csv, jsonl or parquet; None: from the files.
        force: Replace a different existing declaration, suite or staging model.
        dbt_project_dir: The dbt project the staging model and sources go into.

    Returns:
        The plan: what was inferred and each file's text before and after.

    Raises:
        OnboardError: A bad name or prefix, no usable files, or a different declaration exists
            (without `force`).
    """
    if not NAME.match(name):
        raise OnboardError(f"source name {name!r}: use lower_snake_case (it becomes the table raw.{name})")
    if fmt is not None and fmt not in FORMATS:
        raise OnboardError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    inferred = infer_source(settings, prefix, fmt)
    clash = [c.name for c in inferred.columns if c.name in LINEAGE_COLUMNS]
    if clash:
        raise OnboardError(f"{prefix}: column(s) {clash} are the platform's lineage columns; rename them")
    registry_path = Path(settings.sources_file)
    registry_text = _read(registry_path)
    if registry_text is None:
        raise OnboardError(f"{registry_path}: registry file not found; set FOUNDATION_SOURCES_FILE")
    new_registry = with_entry(registry_text, name, registry_entry(inferred), replace=force)
    registry = _parsed(new_registry, registry_path)
    dataset = registry[name]
    staging = dbt_project_dir / "models" / "staging"
    suite_path = Path(settings.expectations_dir) / f"raw.{name}.json"
    owned = {
        suite_path: render_suite(name, inferred),
        staging / f"stg_{name}.sql": render_model(dataset),
        staging / f"stg_{name}.yml": render_model_yaml(dataset),
    }
    edited = [shown(p) for p, text in owned.items() if _read(p) not in (None, text)]
    if edited and not force:
        raise OnboardError(
            f"{', '.join(edited)} exist(s) with other content (reviewed or edited?); see the diff with "
            "--dry-run --force, then run again with --force to replace"
        )
    _check_suite(owned[suite_path], dataset, registry_path.parent)
    files = {
        registry_path: new_registry,
        **owned,
        dbt_project_dir / SOURCES_FILE: render_dbt_sources(registry),
    }
    changes = [Change(p, _read(p), text) for p, text in files.items() if _read(p) != text]
    return Plan(name, inferred, changes)


def _check_suite(text: str, dataset, directory: Path) -> None:  # noqa: ANN001
    """The starter suite loads as the platform will load it (a bug here is ours, not the user's)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=directory, delete=False) as handle:
        handle.write(text)
    try:
        parse_suite(
            Path(handle.name), {c.name for c in dataset.columns} | set(LINEAGE_COLUMNS), dataset.table
        )
    finally:
        os.unlink(handle.name)


def apply(plan: Plan) -> None:
    """Write the plan's files (each replaced whole, never half written)."""
    for change in plan.changes:
        change.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = change.path.with_name(f".{change.path.name}.onboard")
        temporary.write_text(change.new, encoding="utf-8")
        os.replace(temporary, change.path)
