"""The document layer's configuration (`documents.yml`): landing prefix, chunking per source, thresholds."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from dagster_project.documents.chunking import ChunkingError, ChunkingOptions
from dagster_project.documents.curate import QualityThresholds
from dagster_project.documents.pii import PiiOptions
from dagster_project.errors import FoundationError
from dagster_project.registry import Column, Dataset
from dagster_project.validation import Block, Invalid, describe

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
    pii: PiiOptions = field(default_factory=PiiOptions)
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


class OptionsSpec(Block):
    """Chunking options as written (`chunking.default`); unset ones come from the default."""

    strategy: str = "structure"
    max_tokens: int = 160
    overlap_tokens: int = 24
    parent_tokens: int = 480

    def options(self, base: OptionsSpec | None = None) -> ChunkingOptions:
        """The options, with what this block leaves unset taken from `base`.

        Raises:
            ChunkingError: The options cannot work together.
        """
        given = self.model_dump(exclude_unset=True, exclude={"glob"})
        inherited = base.model_dump(exclude_unset=True) if base else {}
        return ChunkingOptions(**{**inherited, **given})


class SourceSpec(OptionsSpec):
    """One of `chunking.sources`: a glob below the prefix and the options that differ from the default."""

    glob: str

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or "glob" not in raw:
            raise Invalid("each source needs a 'glob' (e.g. '*.pdf')")
        return raw


class ChunkingSpec(Block):
    """`chunking: {default, sources}`."""

    default: OptionsSpec = Field(default_factory=OptionsSpec)
    sources: list[SourceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_work(self) -> ChunkingSpec:
        for at, spec, base in [(("default",), self.default, None)] + [
            (("sources", index), source, self.default) for index, source in enumerate(self.sources)
        ]:
            try:
                spec.options(base)
            except ChunkingError as exc:
                raise Invalid(str(exc), at=at) from exc
        return self


class QualitySpec(Block):
    """`quality:`: the thresholds below which a document is kept out of the index."""

    min_words: int = QualityThresholds.min_words
    min_alpha_ratio: float = QualityThresholds.min_alpha_ratio
    max_repeated_line_ratio: float = QualityThresholds.max_repeated_line_ratio


class PiiSpec(Block):
    """`pii: {phone_regions}`: where numbers written without a country code are read as phone numbers."""

    phone_regions: list[str] = Field(default_factory=lambda: list(PiiOptions().phone_regions))

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown or not value:
            raise Invalid(
                "phone_regions needs ISO 3166 region codes such as GB or US; unknown: "
                + (", ".join(unknown) or "none given"),
                field=True,
            )
        return value


class LandingSpec(Block):
    """`landing: {prefix}`."""

    prefix: str = "documents/"

    @field_validator("prefix", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> str:
        if not str(value).endswith("/"):
            raise Invalid(f"prefix {str(value)!r} must end with '/'", field=True)
        return str(value)


class DocumentsSpec(Block):
    """documents.yml as written."""

    version: int = 1
    description: str = "Documents."
    owner: str = "team:knowledge"
    landing: LandingSpec = Field(default_factory=LandingSpec)
    near_duplicate_threshold: float = 0.5
    quality: QualitySpec = Field(default_factory=QualitySpec)
    pii: PiiSpec = Field(default_factory=PiiSpec)
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)

    @field_validator("landing", "quality", "pii", "chunking", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("near_duplicate_threshold")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise Invalid(f"near_duplicate_threshold must be in (0, 1], got {value}", field=True)
        return value


def load_documents_config(path: Path) -> DocumentsConfig:
    """Parse and check `documents.yml`.

    Raises:
        DocumentsConfigError: Not YAML, an unknown key, or options that cannot work.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentsConfigError(f"{path}: cannot read the document configuration: {exc}") from exc
    try:
        spec = DocumentsSpec.model_validate(raw)
    except ValidationError as exc:
        raise DocumentsConfigError(describe(exc, str(path))) from None
    chunking = spec.chunking
    return DocumentsConfig(
        path=Path(path),
        prefix=spec.landing.prefix,
        description=spec.description,
        owner=spec.owner,
        near_duplicate_threshold=spec.near_duplicate_threshold,
        quality=QualityThresholds(**spec.quality.model_dump()),
        pii=PiiOptions(phone_regions=tuple(spec.pii.phone_regions)),
        default_chunking=chunking.default.options(),
        rules=tuple(ChunkingRule(s.glob, s.options(chunking.default)) for s in chunking.sources),
    )
