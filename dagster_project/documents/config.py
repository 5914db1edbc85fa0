"""The document layer's configuration (`documents.yml`): landing prefix, chunking per source, thresholds."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_project.documents.chunking import ChunkingError, ChunkingOptions
from dagster_project.documents.curate import QualityThresholds
from dagster_project.errors import FoundationError
from dagster_project.registry import Column, Dataset

NAME = "documents"
TABLE = "raw.documents"
# raw.documents columns (lineage columns follow, as in every raw table).
COLUMNS = (
    Column("document_id", "string", "Stable id of the document: its path below the landing prefix."),
    Column("path", "string", "Landing key of the document (e.g. documents/shipping.md)."),
    Column("checksum", "string", "BLAKE3 of the document version: its bytes, plus its sidecar's if any."),
    Column("media_type", "string", "text/markdown, text/html, text/plain or application/pdf."),
    Column("title", "string", "First heading, HTML h1 or PDF title; else the file name."),
    Column("text", "string", "Extracted text as light markdown (# headings), before curation.", "free_text"),
    Column("metadata", "string", "Filterable attributes from <file>.metadata.json, as a JSON object."),
    Column("warnings", "string", "What extraction worked around, as a JSON list of messages."),
    Column("size_bytes", "long", "Size of the landed file in bytes."),
)


class DocumentsConfigError(FoundationError, ValueError):
    """documents.yml is malformed; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class ChunkingRule:
    glob: str
    options: ChunkingOptions


@dataclass(frozen=True)
class DocumentsConfig:
    """What `documents.yml` declares."""

    path: Path
    prefix: str = "documents/"
    description: str = "Documents."
    owner: str = "team:knowledge"
    near_duplicate_threshold: float = 0.5
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    default_chunking: ChunkingOptions = field(default_factory=ChunkingOptions)
    rules: tuple[ChunkingRule, ...] = ()

    def chunking_for(self, key: str) -> ChunkingOptions:
        """The chunking options of a landing key: the first matching source rule, else the default."""
        relative = key[len(self.prefix) :] if key.startswith(self.prefix) else key
        for rule in self.rules:
            if fnmatch.fnmatchcase(relative, rule.glob):
                return rule.options
        return self.default_chunking

    def dataset(self) -> Dataset:
        """raw.documents as a registry dataset, so raw tables, gates, checks and metadata are shared."""
        return Dataset(
            name=NAME,
            description=self.description,
            owner=self.owner,
            prefix=self.prefix,
            glob="*",
            format="documents",
            columns=COLUMNS,
            primary_key=("document_id", "checksum"),
            partition_column=None,
            freshness_max_age_hours=None,
        )


def _options(path: Path, where: str, raw: Any) -> ChunkingOptions:
    if not isinstance(raw, dict):
        raise DocumentsConfigError(f"{path}: {where}: expected a mapping such as {{strategy: structure}}")
    allowed = {"strategy", "max_tokens", "overlap_tokens", "parent_tokens"}
    unknown = set(raw) - allowed - {"glob"}
    if unknown:
        raise DocumentsConfigError(
            f"{path}: {where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        return ChunkingOptions(**{k: v for k, v in raw.items() if k in allowed})
    except (ChunkingError, TypeError) as exc:
        raise DocumentsConfigError(f"{path}: {where}: {exc}") from exc


def load_documents_config(path: Path) -> DocumentsConfig:
    """Parse and check `documents.yml`.

    Raises:
        DocumentsConfigError: Not YAML, an unknown key, or options that cannot work.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentsConfigError(f"{path}: cannot read the document configuration: {exc}") from exc
    allowed = {
        "version",
        "description",
        "owner",
        "landing",
        "near_duplicate_threshold",
        "quality",
        "chunking",
    }
    if not isinstance(raw, dict) or set(raw) - allowed:
        raise DocumentsConfigError(f"{path}: top-level keys must be among {', '.join(sorted(allowed))}")
    prefix = str((raw.get("landing") or {}).get("prefix", "documents/"))
    if not prefix.endswith("/"):
        raise DocumentsConfigError(f"{path}: landing.prefix {prefix!r} must end with '/'")
    threshold = float(raw.get("near_duplicate_threshold", 0.5))
    if not 0 < threshold <= 1:
        raise DocumentsConfigError(f"{path}: near_duplicate_threshold must be in (0, 1], got {threshold}")
    try:
        quality = QualityThresholds(**(raw.get("quality") or {}))
    except TypeError as exc:
        raise DocumentsConfigError(f"{path}: quality: {exc}") from exc
    chunking = raw.get("chunking") or {}
    default = _options(path, "chunking.default", chunking.get("default") or {})
    rules = []
    for index, rule in enumerate(chunking.get("sources") or []):
        where = f"chunking.sources[{index}]"
        if not isinstance(rule, dict) or "glob" not in rule:
            raise DocumentsConfigError(f"{path}: {where}: each source needs a 'glob' (e.g. '*.pdf')")
        merged = {**chunking.get("default", {}), **rule}
        rules.append(ChunkingRule(str(rule["glob"]), _options(path, where, merged)))
    return DocumentsConfig(
        path=Path(path),
        prefix=prefix,
        description=str(raw.get("description", "Documents.")),
        owner=str(raw.get("owner", "team:knowledge")),
        near_duplicate_threshold=threshold,
        quality=quality,
        default_chunking=default,
        rules=tuple(rules),
    )
