"""The registry file's schema: pydantic models that check each key of `sources.yml` and build the
frozen `Dataset`s of `registry.py`, with errors in the registry's words (file, key, fix)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dagster_project.registry_types import (
    BAD_ROW_POLICIES,
    COMPRESSIONS,
    DECIMAL_TYPE,
    DUPLICATE_POLICIES,
    ENCODINGS,
    FORMATS,
    NAME,
    NESTED_MODES,
    OWNER,
    PII_KINDS,
    PRIMITIVE_TYPES,
    Column,
    Dataset,
    Dialect,
)
from dagster_project.validation import Block, Invalid

# Spellings Python and exports use for the same encodings.
ENCODING_ALIASES = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "windows-1252": "cp1252"}


def _one_of(choices: tuple[str, ...], normalise: Callable[[str], str] = str) -> BeforeValidator:
    """A field whose value is one of `choices` (after `normalise`); the message lists them."""

    def check(value: Any, info: ValidationInfo) -> Any:
        normalised = normalise(str(value)) if isinstance(value, str) else value
        if normalised not in choices:
            raise Invalid(f"{info.field_name} must be one of {', '.join(choices)}, got {value!r}", field=True)
        return normalised

    return BeforeValidator(check)


def _char(value: Any, info: ValidationInfo) -> Any:
    if value is not None and (not isinstance(value, str) or len(value) != 1):
        raise Invalid(f"{info.field_name} must be one character, got {value!r}", field=True)
    return value


def _type_name(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"type must be a string such as 'long', got {value!r}", field=True)
    type_name = value.strip().lower()
    if type_name in PRIMITIVE_TYPES:
        return type_name
    match = DECIMAL_TYPE.match(type_name)
    if match and 0 < int(match.group(1)) <= 38 and int(match.group(2)) <= int(match.group(1)):
        return f"decimal({match.group(1)},{match.group(2)})"
    raise Invalid(
        f"unknown type {type_name!r}; use one of {', '.join(PRIMITIVE_TYPES)} or decimal(P,S) with P <= 38",
        field=True,
    )


def _strftime(value: Any, info: ValidationInfo) -> Any:
    if value is not None and (not isinstance(value, str) or "%" not in value):
        raise Invalid(
            f"{info.field_name} must be a strftime format such as '%d/%m/%Y', got {value!r}", field=True
        )
    return value


def _zone(value: Any) -> Any:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"timezone {value!r} is not an IANA zone such as 'Europe/Paris'", field=True) from exc
    return str(value)


def _listed(value: Any) -> Any:
    """YAML lets a one-item list be written as its item."""
    return [value] if isinstance(value, str) else value


def _markers(value: Any) -> Any:
    value = _listed(value)
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise Invalid(f"null_markers must be a list of strings such as ['', 'NA'], got {value!r}", field=True)
    return value


def _count(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Invalid(f"{info.field_name} must be a whole number >= 0, got {value!r}", field=True)
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


Char = Annotated[str, BeforeValidator(_char)]
Text = Annotated[str, BeforeValidator(_text)]


class ColumnSpec(Block):
    """A column of `columns:`: `name: type` or `name: {type, description, pii}`."""

    type: Annotated[str, BeforeValidator(_type_name)]
    description: Text = ""
    pii: Annotated[str | None, _one_of(PII_KINDS)] = None

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return {"type": raw}
        if not isinstance(raw, dict):
            raise Invalid("expected {type: ..., description: ...}")
        return raw


class CsvSpec(Block):
    """The `csv:` block; defaults are RFC 4180 with a header and empty fields as NULL."""

    delimiter: Char = ","
    quote: Char = '"'
    escape: Char = '"'
    header: Annotated[bool, Strict()] = True
    skip_rows: Annotated[int, BeforeValidator(_count)] = 0
    comment: Char | None = None
    null_markers: Annotated[list[str], BeforeValidator(_markers)] = [""]
    decimal: Annotated[str, _one_of((".", ","))] = "."

    @model_validator(mode="after")
    def _decimal_is_not_the_delimiter(self) -> CsvSpec:
        if self.decimal == self.delimiter:
            raise Invalid("decimal and delimiter are both ','; a decimal comma needs another delimiter")
        return self


class FormatsSpec(Block):
    """The `formats:` block: strftime formats of dates and timestamps, the zone of naive timestamps."""

    date: Annotated[str | None, BeforeValidator(_strftime)] = None
    timestamp: Annotated[str | None, BeforeValidator(_strftime)] = None
    timezone: Annotated[str | None, BeforeValidator(_zone)] = None


class JsonSpec(Block):
    """The `json:` block of JSON-lines datasets."""

    nested: Annotated[str, _one_of(NESTED_MODES)] = "struct"


class LandingSpec(Block):
    """`landing: {prefix, glob}`, or `landing: PREFIX`."""

    prefix: str
    glob: str | None = None

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = {"prefix": raw}
        if not isinstance(raw, dict) or not raw.get("prefix"):
            raise Invalid(
                "landing needs a prefix, e.g. landing: {prefix: orders/, glob: '*.csv'}", field=True
            )
        return raw

    @field_validator("prefix", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> str:
        prefix = str(value).strip("/") + "/"
        if ".." in prefix.split("/"):
            raise Invalid("prefix may not contain '..'", field=True)
        return prefix


class FreshnessSpec(Block):
    """`freshness: {max_age_hours: N}`."""

    max_age_hours: float

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        hours = raw.get("max_age_hours") if isinstance(raw, dict) else None
        if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
            raise Invalid("freshness must be {max_age_hours: <positive number>}", field=True)
        return raw


class DatasetSpec(Block):
    """One entry of `datasets:`, as written in the registry file."""

    description: Text
    owner: str
    landing: LandingSpec
    format: Annotated[str, _one_of(FORMATS)]
    columns: dict[str, ColumnSpec]
    primary_key: Annotated[list[str], BeforeValidator(_listed)]
    partition_column: str | None = None
    freshness: FreshnessSpec | None = None
    csv: CsvSpec | None = None
    bad_rows: Annotated[str, _one_of(BAD_ROW_POLICIES)] = "rows"
    encoding: Annotated[
        str, _one_of(ENCODINGS, lambda e: ENCODING_ALIASES.get(e.strip().lower(), e.strip().lower()))
    ] = "utf-8"
    compression: Annotated[str, _one_of(COMPRESSIONS, lambda c: c.strip().lower())] = "auto"
    formats: FormatsSpec | None = None
    json_options: JsonSpec | None = Field(default=None, alias="json")
    duplicates: Annotated[str, _one_of(DUPLICATE_POLICIES)] = "skip"

    @field_validator("freshness", "csv", "formats", "json_options", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return value or None  # `csv: {}` and `freshness:` say nothing

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, value: Any) -> str:
        if not OWNER.match(str(value)):
            raise Invalid(f"owner {str(value)!r} must be an email address or 'team:<name>'", field=True)
        return str(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _column_names(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not raw:
            raise Invalid("'columns' must map column names to {type, description, pii}", field=True)
        for name in raw:
            if isinstance(name, str) and name.startswith("_"):
                raise Invalid("names starting with '_' are reserved for lineage columns", at=(name,))
            if not isinstance(name, str) or not NAME.match(name):
                raise Invalid("column names are lower_snake_case", at=(str(name),))
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if not self.primary_key or any(k not in self.columns for k in self.primary_key):
            raise Invalid(f"primary_key {self.primary_key!r} must list declared columns")
        if self.partition_column is not None and self.partition_column not in self.columns:
            raise Invalid(f"partition_column {self.partition_column!r} is not a declared column")
        if self.csv and self.format != "csv":
            raise Invalid(f"a csv: block applies to format csv only, and this dataset is {self.format}")
        if self.json_options and self.format != "jsonl":
            raise Invalid(f"a json: block applies to format jsonl only, and this dataset is {self.format}")
        return self

    def dialect(self) -> Dialect:
        csv, formats, json_options = self.csv or CsvSpec(), self.formats or FormatsSpec(), self.json_options
        return Dialect(
            encoding=self.encoding,
            compression=self.compression,
            delimiter=csv.delimiter,
            quote=csv.quote,
            escape=csv.escape,
            header=csv.header,
            skip_rows=csv.skip_rows,
            comment=csv.comment,
            null_markers=tuple(csv.null_markers),
            decimal=csv.decimal,
            date_format=formats.date,
            timestamp_format=formats.timestamp,
            timezone=formats.timezone,
            nested=(json_options or JsonSpec()).nested,
        )

    def dataset(self, name: str) -> Dataset:
        """The `Dataset` the rest of the platform reads."""
        return Dataset(
            name=name,
            description=self.description.strip(),
            owner=self.owner,
            prefix=self.landing.prefix,
            glob=self.landing.glob or f"*.{self.format}",
            format=self.format,
            columns=tuple(
                Column(name=c, type=spec.type, description=spec.description, pii=spec.pii)
                for c, spec in self.columns.items()
            ),
            primary_key=tuple(self.primary_key),
            partition_column=self.partition_column,
            freshness_max_age_hours=self.freshness.max_age_hours if self.freshness else None,
            dialect=self.dialect(),
            bad_rows=self.bad_rows,
            duplicates=self.duplicates,
        )


class RegistrySpec(Block):
    """The registry file: `version: 1` and `datasets:`; other top-level keys (YAML anchors) are left alone."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    version: int = 1
    datasets: dict[str, DatasetSpec]

    @field_validator("datasets", mode="before")
    @classmethod
    def _dataset_names(cls, raw: Any) -> Any:
        for name, body in raw.items():
            if not isinstance(name, str) or not NAME.match(name):
                raise Invalid("dataset names are lower_snake_case (they become table names)", at=(str(name),))
            if not isinstance(body, dict):
                raise Invalid("expected a mapping of dataset settings", at=(name,))
        return raw
