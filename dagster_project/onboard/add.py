"""`foundation sources add NAME --prefix PREFIX`: infer a source from its landed files and declare it.

It writes four files and regenerates a fifth, each from what was inferred or from the registry:
the registry entry (`sources.yml`), the starter suite `expectations/raw.NAME.json`, the staging
model `stg_NAME.sql` with its `stg_NAME.yml`, and dbt's `__sources.yml`. It is idempotent (the same
landed files give the same files: "no changes"), `--dry-run` prints the diff and writes nothing, and
a source declared already with something else (a reviewed entry, an edited suite or model) is left
alone unless `--force` replaces it. `--from-registry` keeps a reviewed registry entry and generates
the suite and the staging model from it.
"""

from __future__ import annotations

import copy
import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dagster_project.lakehouse.tables import LINEAGE_COLUMNS
from dagster_project.onboard.dbt_sources import SOURCES_FILE, render_dbt_sources
from dagster_project.onboard.declare import declared, plain, registry_entry, with_entry
from dagster_project.onboard.infer import infer_source
from dagster_project.onboard.inferred import Inferred
from dagster_project.onboard.landed import OnboardError
from dagster_project.onboard.staging import render_model, render_model_yaml
from dagster_project.onboard.suite import render_suite
from dagster_project.quality.suites import parse_suite
from dagster_project.registry import (
    FORMATS,
    NAME,
    Dataset,
    Registry,
    RegistryError,
    load_registry,
)
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
    prefix: str | None,
    *,
    fmt: str | None = None,
    force: bool = False,
    from_registry: bool = False,
    dbt_project_dir: Path = DBT_PROJECT_DIR,
) -> Plan:
    """Infer the source and the files that declare it, without writing anything.

    Args:
        settings: The landing zone, the registry file and the expectations folder.
        name: The dataset name (lower_snake_case; the table becomes `raw.NAME`).
        prefix: Where its files landed, relative to the landing root (None: the registry's, with
            `from_registry`).
        fmt: csv, jsonl or parquet; None: from the files (or the registry's, with `from_registry`).
        force: Replace a different existing declaration, suite or staging model.
        from_registry: Keep the registry entry as it is (a person reviewed it) and generate the
            suite and the staging model from it; the files give only the suite's statistics.
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
    registry_path = Path(settings.sources_file)
    registry_text = _read(registry_path)
    if registry_text is None:
        raise OnboardError(f"{registry_path}: registry file not found; set FOUNDATION_SOURCES_FILE")
    reviewed = None
    if from_registry:
        current = load_registry(registry_path)
        if name not in current.names():
            raise OnboardError(
                f"{name!r} is not declared in {registry_path}; declare it first with "
                f"`foundation sources add {name} --prefix PREFIX`"
            )
        reviewed = current[name]
        prefix, fmt = prefix or reviewed.prefix, fmt or reviewed.format
    elif not prefix:
        raise OnboardError(f"sources add {name}: give --prefix, the landing prefix of its files")
    inferred = infer_source(settings, prefix, fmt)
    clash = [c.name for c in inferred.columns if c.name in LINEAGE_COLUMNS]
    if clash:
        raise OnboardError(f"{prefix}: column(s) {clash} are the platform's lineage columns; rename them")
    inferred_only: dict[Path, str] = {}  # what the files alone give: a file still so was not edited
    if reviewed is not None:
        new_registry, registry, dataset = registry_text, current, reviewed
        as_inferred = copy.deepcopy(inferred)
        inferred_dataset = _parsed(
            with_entry(registry_text, name, registry_entry(as_inferred), replace=True), registry_path
        )[name]
        follow_registry(inferred, dataset)
        entry_differs = False
    else:
        entry = registry_entry(inferred)
        entry_differs = declared(registry_text, name) not in (None, plain(entry))
        new_registry = with_entry(registry_text, name, entry, replace=True)
        registry = _parsed(new_registry, registry_path)
        dataset = registry[name]
    staging = dbt_project_dir / "models" / "staging"
    suite_path = Path(settings.expectations_dir) / f"raw.{name}.json"
    owned = {
        suite_path: ("the starter suite", render_suite(name, inferred)),
        staging / f"stg_{name}.sql": ("the staging model", render_model(dataset)),
        staging / f"stg_{name}.yml": ("its YAML", render_model_yaml(dataset)),
    }
    if reviewed is not None:
        inferred_only = {
            suite_path: render_suite(name, as_inferred),
            staging / f"stg_{name}.sql": render_model(inferred_dataset),
            staging / f"stg_{name}.yml": render_model_yaml(inferred_dataset),
        }
    differing = [f"the registry entry ({shown(registry_path)})"] if entry_differs else []
    differing += [
        f"{what} ({shown(p)})"
        for p, (what, text) in owned.items()
        if _read(p) not in (None, text, inferred_only.get(p))
    ]
    if differing and not force:
        # Either side may have moved: files that landed since change what is inferred (a suite's
        # row counts, a wider type), and a person may have reviewed or edited the files.
        given = "the registry entry and the landed files give" if from_registry else "the landed files give"
        raise OnboardError(
            f"{name} is declared already, and {', '.join(differing)} differ from what {given} now: "
            "files landed since or a person edited it; see what differs with --dry-run --force, then "
            "run again with --force to replace it"
            + ("" if from_registry else " (or --from-registry to keep a reviewed registry entry)")
        )
    _check_suite(owned[suite_path][1], dataset, registry_path.parent)
    files = {
        registry_path: new_registry,
        **{p: text for p, (_, text) in owned.items()},
        dbt_project_dir / SOURCES_FILE: render_dbt_sources(registry),
    }
    changes = [Change(p, _read(p), text) for p, text in files.items() if _read(p) != text]
    return Plan(name, inferred, changes)


def follow_registry(inferred: Inferred, dataset: Dataset) -> None:
    """What a person declared wins over what was inferred: key, PII, types, the columns kept."""
    declared_columns = {c.name: c for c in dataset.columns}
    inferred.primary_key = list(dataset.primary_key)
    kept = []
    for profile in inferred.columns:
        column = declared_columns.get(profile.name)
        if column is None:
            continue
        profile.pii = column.pii
        if column.type != profile.type:
            profile.fixed_type = column.type
        kept.append(profile)
    inferred.columns = kept


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
