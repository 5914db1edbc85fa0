"""Cards of dbt models, from the manifest (grain, lineage, macros, column meta) and the source registry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from dagster_project.cards.content import (
    Block,
    Bullets,
    Card,
    Grid,
    QualityResults,
    Section,
    Text,
    first_sentence,
    limits_section,
    profile_notes,
    profile_section,
    quality_section,
)
from dagster_project.cards.profile import TableProfile
from dagster_project.errors import FoundationError
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import DBT_PROJECT_DIR

DEFAULT_OWNER = "team:data-platform"
# A macro's documentation is the Jinja comment right before it (see dbt_project/macros/*.sql).
_MACRO_DOC = re.compile(r"\{#-?(?P<doc>(?:(?!#\}).)*?)-?#\}\s*\{%-?\s*macro\s+(?P<name>\w+)", re.DOTALL)


class CardSourceError(FoundationError, ValueError):
    """The manifest or registry lacks what a card needs; the message says what to run or fix."""


def model_meta(node: Mapping[str, Any]) -> dict[str, Any]:
    """A model's or column's `meta`, wherever dbt put it (top level or under config)."""
    return {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}


@cache
def _macro_docs_in(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    return {m["name"]: " ".join(m["doc"].split()) for m in _MACRO_DOC.finditer(text)}


def macro_doc(manifest: Mapping[str, Any], name: str, project_dir: Path = DBT_PROJECT_DIR) -> str:
    """The documentation comment of one of the project's macros ("" when it has none)."""
    for macro in manifest.get("macros", {}).values():
        if macro["name"] == name and macro.get("package_name") == manifest["metadata"].get("project_name"):
            return _macro_docs_in(project_dir / macro["original_file_path"]).get(name, "")
    return ""


def primary_key_text(key: str | list[str] | None, none: str) -> str:
    """A model's key as a reader should read it: `order_id`, or `(order_id, line_no)` marked composite."""
    columns = [key] if isinstance(key, str) else list(key or [])
    if len(columns) > 1:
        return f"({', '.join(columns)}), composite: one row per combination of these {len(columns)} columns"
    return columns[0] if columns else none


def _dataset_of(registry: Registry, iceberg_table: str) -> Dataset | None:
    return next((d for d in registry if d.table == iceberg_table), None)


def _label(manifest: Mapping[str, Any], uid: str) -> str:
    if uid in manifest["sources"]:
        meta = manifest["sources"][uid]["meta"]
        return meta.get("iceberg_table", uid) + (" (read in full)" if meta.get("read") == "all" else "")
    node = manifest["nodes"][uid]
    return f"{node['config']['schema']}.{node['name']}"


def lineage_paths(manifest: Mapping[str, Any], uid: str, registry: Registry) -> list[str]:
    """Every path from the model down to a landing prefix (`curated.orders ← staging.stg_orders ← ...`)."""
    paths: list[str] = []

    def walk(node_uid: str, trail: list[str]) -> None:
        trail = [*trail, _label(manifest, node_uid)]
        if node_uid in manifest["sources"]:
            dataset = _dataset_of(registry, manifest["sources"][node_uid]["meta"].get("iceberg_table", ""))
            if dataset is not None:
                trail.append(f"landing `{dataset.prefix}{dataset.glob}` ({dataset.format})")
            paths.append(" ← ".join(trail))
            return
        parents = [d for d in manifest["nodes"][node_uid]["depends_on"]["nodes"] if not d.startswith("test.")]
        if not parents:
            paths.append(" ← ".join(trail))
        for parent in parents:
            walk(parent, trail)

    walk(uid, [])
    return sorted(dict.fromkeys(paths))


def raw_datasets(manifest: Mapping[str, Any], uid: str, registry: Registry) -> list[Dataset]:
    """The registry datasets a model reads, directly or through other models."""
    found: dict[str, Dataset] = {}
    stack = [uid]
    while stack:
        current = stack.pop()
        if current in manifest["sources"]:
            dataset = _dataset_of(registry, manifest["sources"][current]["meta"].get("iceberg_table", ""))
            if dataset is not None:
                found[dataset.name] = dataset
            continue
        stack += [d for d in manifest["nodes"].get(current, {}).get("depends_on", {}).get("nodes", [])]
    return [found[name] for name in sorted(found)]


def column_masking(meta: Mapping[str, Any]) -> list[str]:
    """The masking macros a column's meta names (`masking: email_hash` or a list of them)."""
    masking = meta.get("masking") or []
    return [masking] if isinstance(masking, str) else list(masking)


def _preprocessing(
    manifest: Mapping[str, Any], node: Mapping[str, Any], datasets: list[Dataset], expectations_dir: Path
) -> Section:
    collected = []
    for d in datasets:
        suite = expectations_dir / f"{d.table}.json"
        gate = f"; gated by `{suite.name}`" if suite.exists() else ""
        collected.append(
            f"{d.table}: {d.format} files under `{d.prefix}` matching `{d.glob}` ({d.description}), "
            f"appended as landed with lineage columns, each file version exactly once; owner {d.owner}{gate}."
        )
    config = node["config"]
    key_text = primary_key_text(config.get("unique_key"), "no key")
    build = (
        f"Built by dbt as `{config.get('materialized')}` ({config.get('incremental_strategy') or 'full'} on "
        f"{key_text}) over the rows changed since the last build, then published to Iceberg through "
        "Write-Audit-Publish: main moves only when the dbt tests and the table's suite passed."
    )
    project = manifest["metadata"].get("project_name")
    macros = [m.split(".")[-1] for m in node["depends_on"].get("macros", []) if m.split(".")[1] == project]
    steps = [f"`{name}`: {macro_doc(manifest, name) or 'no description'}" for name in macros]
    blocks: list[Block] = [Text("Collection (raw tables read):"), Bullets(collected or ["none"]), Text(build)]
    if steps:
        blocks += [Text("Transformations applied by the model (its macros):"), Bullets(steps)]
    masked = [
        f"`{name}` ({', '.join(masks)})"
        for name, column in node["columns"].items()
        if (masks := column_masking(model_meta(column)))
    ]
    if masked:
        blocks.append(Text("Masked columns (see PII handling): " + ", ".join(masked) + "."))
    return Section("Collection and preprocessing", blocks)


def pii_section(
    manifest: Mapping[str, Any], node: Mapping[str, Any], datasets: list[Dataset], columns: list[str]
) -> Section:
    """Per column derived from PII: the raw PII kind, the raw columns of that kind, and how it is masked."""
    upstream = [(d, c) for d in datasets for c in d.columns if c.pii]
    blocks: list[Block] = []
    if upstream:
        blocks.append(
            Text(
                "Raw PII upstream (source registry): "
                + ", ".join(f"{d.table}.{c.name} ({c.pii})" for d, c in upstream)
                + "."
            )
        )
    rows = []
    for name in columns:
        meta = model_meta(node["columns"].get(name, {}))
        if not meta.get("pii"):
            continue
        kind = str(meta["pii"])
        sources = ", ".join(f"{d.table}.{c.name}" for d, c in upstream if c.pii == kind) or "–"
        how = "; ".join(f"{m}: {macro_doc(manifest, m)}" for m in column_masking(meta)) or "not masked"
        rows.append([name, kind, sources, how])
    if rows:
        blocks += [
            Text("Columns derived from PII (column meta `pii` and `masking` in the model's YAML):"),
            Grid(["column", "PII kind", "raw columns", "masking"], rows),
        ]
    else:
        blocks.append(Text("No column of this table is derived from PII."))
    raw_names = {c.name for _, c in upstream}
    declared = {n for n, c in node["columns"].items() if model_meta(c).get("pii")}
    suspicious = [n for n in columns if n in raw_names and n not in declared]
    if suspicious:
        blocks.append(
            Text(
                "Warning: column(s) "
                + ", ".join(f"`{n}`" for n in suspicious)
                + " share a raw PII column's name but declare no `pii` meta: check the model masks them."
            )
        )
    return Section("PII handling", blocks)


def model_card(
    manifest: Mapping[str, Any],
    uid: str,
    registry: Registry,
    profile: TableProfile,
    quality: QualityResults | None,
    *,
    expectations_dir: Path,
    generated_at: datetime,
) -> Card:
    """The card of one dbt model from its manifest node, the registry and the profile of its snapshot.

    Raises:
        CardSourceError: The model is not in the manifest (re-run `dbt parse`).
    """
    if uid not in manifest["nodes"]:
        raise CardSourceError(f"{uid} is not in the dbt manifest: run `make setup` (it runs `dbt parse`)")
    node = manifest["nodes"][uid]
    meta = model_meta(node)
    table = f"{node['config']['schema']}.{node['name']}"
    datasets = raw_datasets(manifest, uid, registry)
    owner = str(meta.get("owner") or DEFAULT_OWNER)
    key = node["config"].get("unique_key")
    facts = [
        ("Table", f"Iceberg `{table}` (Dagster asset `{table.replace('.', '/')}`)"),
        ("Snapshot", str(profile.snapshot_id) if profile.snapshot_id is not None else "none yet"),
        ("Rows", f"{profile.rows:,}"),
        ("Generated", generated_at.isoformat(timespec="seconds")),
        ("Owner", owner),
        ("Primary key", primary_key_text(key, "–")),
    ]
    descriptions = {name: c.get("description", "") for name, c in node["columns"].items()}
    keys = [key] if isinstance(key, str) else list(key or [])
    sections = [
        Section("What one row is", [Text(" ".join(node.get("description", "").split()) or "Not described.")]),
        Section(
            "Sources and lineage",
            [
                Text("Upstream tables, from the dbt manifest down to the landing zone:"),
                Bullets(lineage_paths(manifest, uid, registry)),
            ],
        ),
        _preprocessing(manifest, node, datasets, expectations_dir),
        profile_section(profile, descriptions),
        quality_section(quality),
        limits_section(
            profile_notes(profile, skip=keys) + _salt_notes(node), list(meta.get("limitations") or [])
        ),
        pii_section(manifest, node, datasets, [c.name for c in profile.columns] or list(node["columns"])),
        Section(
            "Owner and intended uses",
            [
                Text(f"Owner: {owner}."),
                Bullets(list(meta.get("intended_uses") or ["Not declared: ask the owner."])),
            ],
        ),
    ]
    grain = first_sentence(node.get("description", ""))
    return Card(table, grain, facts, sections, profile.snapshot_id, profile.rows)


def _salt_notes(node: Mapping[str, Any]) -> list[str]:
    """Salted hashes join only with hashes made under the same salt."""
    return [
        f"`{name}` is a salted hash (FOUNDATION_PII_SALT): it joins only with values hashed under the "
        "same salt, not across deployments or after the salt changes."
        for name, column in node["columns"].items()
        if any("hash" in m for m in column_masking(model_meta(column)))
    ]
