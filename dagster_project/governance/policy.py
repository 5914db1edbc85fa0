"""Persona policies: parse and validate `personas.yml` (readable tables, column rules, row filters)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from dagster_project.errors import FoundationError
from dagster_project.governance.sql import parse_expression, referenced_columns
from dagster_project.identity import ANYONE, OWNER
from dagster_project.validation import Block, Invalid, describe, yaml_problem

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TABLE_PATTERN = re.compile(r"^[a-z0-9_*?\[\]]+\.[a-z0-9_*?\[\]]+$")
SIMPLE_RULES = ("deny", "null", "hash")
RULE_HELP = "use one of deny, null, hash, {fixed: TEXT}, {keep_last: N}, {sql: EXPR}"
PERSONA_KEYS = ("description", "identities", "read_held", "tables", "columns", "row_filters", "search")
SEARCH_KEYS = ("sources", "media_types", "attributes")
# Landing paths and media types are matched with shell patterns; these characters keep a pattern
# translatable into the vector index's filter language (see governance/search.py).
SEARCH_PATTERN = re.compile(r"^[A-Za-z0-9_./*?+=@,:-]+$")
# Who may assume a persona that does not say: the owner of the data directory only.
DEFAULT_IDENTITIES = (OWNER,)


def _known_keys(raw: dict, keys: tuple[str, ...]) -> dict:
    """`raw` itself when it uses only `keys`; otherwise the keys it should use."""
    unknown = set(raw) - set(keys)
    if unknown:
        raise Invalid(f"unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(keys)}")
    return raw


class PolicyError(FoundationError, ValueError):
    """The personas file is malformed; the message names the file, the persona, the key and the fix."""


class UnknownPersona(FoundationError, LookupError):
    """No persona of that name; the message lists the ones there are."""


class QueryDenied(FoundationError, PermissionError):
    """The policy does not allow the query (a table, column or snapshot; the persona itself); nothing ran."""

    # `foundation query` and `search` tell a denial from a mistake: `denied: ...`, exit 3.
    kind = "denied"
    exit_code = 3


class IdentityNotAllowed(QueryDenied):
    """The identity asking may not assume the persona (its `identities` list); nothing ran."""


@dataclass(frozen=True)
class ColumnRule:
    """What a persona sees of one column: `deny`, or a mask (`null`, `hash`, `fixed`, `keep_last`, `sql`)."""

    kind: str
    value: str | int | None = None

    @property
    def denied(self) -> bool:
        return self.kind == "deny"

    def columns_used(self, column: str) -> set[str]:
        """Columns the masked value is computed from."""
        if self.kind == "sql":
            return referenced_columns(parse_expression(str(self.value)))
        return set() if self.kind in ("deny", "null", "fixed") else {column}

    def sql(self, column: str, salt: str) -> str:
        """The DuckDB expression that replaces `column` for this persona."""
        quoted = _quote(column)
        if self.kind == "null":
            return "NULL"
        if self.kind == "hash":
            return f"sha256({_literal(salt)} || CAST({quoted} AS VARCHAR))"
        if self.kind == "fixed":
            return _literal(str(self.value))
        if self.kind == "keep_last":
            text, n = f"CAST({quoted} AS VARCHAR)", int(self.value or 0)
            return f"repeat('•', greatest(length({text}) - {n}, 0)) || right({text}, {n})"
        if self.kind == "sql":
            return f"({self.value})"
        raise ValueError(f"a denied column has no value: {column}")


@dataclass(frozen=True)
class SearchRules:
    """What `foundation search` may return to a persona, beyond its table and column rules.

    Empty means no restriction of that kind: `sources` are landing-path patterns
    (`documents/kb/*`), `media_types` patterns (`text/*`), `attributes` sidecar keys with
    the values allowed (a document without the key is not shown).
    """

    sources: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Persona:
    """A persona: who may assume it, the tables it may read, its column rules and row filters."""

    name: str
    description: str
    tables: tuple[str, ...]
    columns: dict[str, dict[str, ColumnRule]] = field(default_factory=dict)
    row_filters: dict[str, str] = field(default_factory=dict)
    identities: tuple[str, ...] = DEFAULT_IDENTITIES
    read_held: bool = False  # may --as-of read snapshots that were never on main (held batches)
    search: SearchRules = field(default_factory=SearchRules)

    def can_read(self, table: str) -> bool:
        return any(fnmatch.fnmatchcase(table, pattern) for pattern in self.tables)

    def may_be_assumed_by(self, identity: str, owner: str) -> bool:
        """Whether `identity` may act as this persona; `owner` is the data directory's owner."""
        return any(
            allowed == ANYONE or allowed == identity or (allowed == OWNER and identity == owner)
            for allowed in self.identities
        )

    def check_identity(self, identity: str, owner: str) -> None:
        """Raise unless `identity` may act as this persona.

        Raises:
            IdentityNotAllowed: It may not; the message names the persona's identities.
        """
        if self.may_be_assumed_by(identity, owner):
            return
        named = ", ".join(f"{OWNER} ({owner})" if i == OWNER else i for i in self.identities)
        raise IdentityNotAllowed(
            f"{identity!r} may not act as persona {self.name!r} (its identities: {named}); "
            "ask the owner of the personas file to add you to its identities, or use another persona"
        )

    def hashes(self) -> bool:
        """Whether any column rule is `hash` (then queries need the PII salt)."""
        return any(rule.kind == "hash" for rules in self.columns.values() for rule in rules.values())

    def column_rules(self, table: str) -> dict[str, ColumnRule]:
        """Every rule that applies to `table` (later patterns in the file win)."""
        rules: dict[str, ColumnRule] = {}
        for pattern, by_column in self.columns.items():
            if fnmatch.fnmatchcase(table, pattern):
                rules.update(by_column)
        return rules

    def row_filter(self, table: str) -> str | None:
        """The row filter of `table` (all matching filters, AND-ed), or None."""
        found = [f"({f})" for p, f in self.row_filters.items() if fnmatch.fnmatchcase(table, p)]
        return " AND ".join(found) or None


@dataclass(frozen=True)
class Policies:
    """Every persona of a personas file."""

    path: Path
    personas: dict[str, Persona]

    def persona(self, name: str) -> Persona:
        """The persona called `name`.

        Raises:
            UnknownPersona: There is none; the message lists the personas of the file.
        """
        if name not in self.personas:
            raise UnknownPersona(
                f"{self.path.name}: no persona {name!r}; use one of {', '.join(sorted(self.personas))}"
            )
        return self.personas[name]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rule(raw: Any, at: tuple[str, ...]) -> ColumnRule:
    if raw is None:  # YAML `null` reads as None
        return ColumnRule("null")
    if isinstance(raw, str) and raw in SIMPLE_RULES:
        return ColumnRule(raw)
    if isinstance(raw, dict) and len(raw) == 1:
        kind, value = next(iter(raw.items()))
        if kind == "fixed" and isinstance(value, str | int | float):
            return ColumnRule("fixed", str(value))
        if kind == "keep_last":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise Invalid(f"keep_last needs a whole number >= 0, got {value!r}", at=at)
            return ColumnRule("keep_last", value)
        if kind == "sql" and isinstance(value, str):
            try:
                parse_expression(value)
            except ValueError as exc:
                raise Invalid(f"sql mask {value!r}: {exc}", at=at) from exc
            return ColumnRule("sql", value)
    raise Invalid(f"unknown column rule {raw!r}; {RULE_HELP}", at=at)


def _table_key(key: Any) -> str:
    if not isinstance(key, str) or not TABLE_PATTERN.match(key):
        raise Invalid(f"{key!r} is not a table or pattern like 'curated.orders' or 'staging.*'")
    return key


def _patterns(raw: Any, example: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise Invalid(f"list shell patterns, e.g. [{example}]")
    for item in raw:
        if not isinstance(item, str) or not SEARCH_PATTERN.match(item):
            raise Invalid(f"{item!r} is not a pattern like {example}: letters, digits, / . _ - * ? only")
    return tuple(raw)


class SearchSpec(Block):
    """A persona's `search:` rules, as written."""

    sources: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not raw:
            raise Invalid(f"expected a mapping with one or more of {', '.join(SEARCH_KEYS)}")
        return _known_keys(raw, SEARCH_KEYS)

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, raw: Any) -> tuple[str, ...]:
        return _patterns(raw, "'documents/kb/*'")

    @field_validator("media_types", mode="before")
    @classmethod
    def _media_types(cls, raw: Any) -> tuple[str, ...]:
        return _patterns(raw, "'text/*'")

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, raw: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(raw, dict) or not raw:
            raise Invalid("expected 'key: [values]' lines, e.g. audience: [customers]")
        allowed = {}
        for key, values in raw.items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise Invalid("list the values a document's attribute may have", at=(str(key),))
            allowed[str(key)] = tuple(values)
        return allowed

    def rules(self) -> SearchRules:
        return SearchRules(self.sources, self.media_types, dict(self.attributes))


class PersonaSpec(Block):
    """One entry of `personas:`, as written."""

    description: str | None = None
    identities: tuple[str, ...] = DEFAULT_IDENTITIES
    read_held: bool = False  # may --as-of read snapshots that were never on main (held batches)
    tables: tuple[str, ...] = Field(default=(), validate_default=True)
    columns: dict[str, dict[str, ColumnRule]] = Field(default_factory=dict)
    row_filters: dict[str, str] = Field(default_factory=dict)
    search: SearchSpec | None = None

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise Invalid("expected a mapping with description and tables")
        return _known_keys(raw, PERSONA_KEYS)

    @field_validator("tables", mode="before")
    @classmethod
    def _tables(cls, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw:
            raise Invalid("list the readable tables, e.g. ['curated.*']")
        return tuple(_table_key(t) for t in raw)

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, raw: Any) -> dict[str, dict[str, ColumnRule]]:
        columns: dict[str, dict[str, ColumnRule]] = {}
        for table, rules in (raw or {}).items():
            key = _table_key(table)
            if not isinstance(rules, dict) or not rules:
                raise Invalid(f"expected 'column: rule' lines; {RULE_HELP}", at=(table,))
            columns[key] = {str(c): _rule(r, at=(table, str(c))) for c, r in rules.items()}
        return columns

    @field_validator("row_filters", mode="before")
    @classmethod
    def _row_filters(cls, raw: Any) -> dict[str, str]:
        filters: dict[str, str] = {}
        for table, text in (raw or {}).items():
            key = _table_key(table)
            if not isinstance(text, str):
                raise Invalid("expected a SQL condition, e.g. \"status <> 'solved'\"", at=(table,))
            try:
                parse_expression(text)
            except ValueError as exc:
                raise Invalid(f"{text!r}: {exc}", at=(table,)) from exc
            filters[key] = text
        return filters

    @field_validator("read_held", mode="before")
    @classmethod
    def _read_held(cls, raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise Invalid(f"expected true or false, got {raw!r}")
        return raw

    @field_validator("identities", mode="before")
    @classmethod
    def _identities(cls, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(i, str) and i.strip() for i in raw):
            raise Invalid(
                f"list who may assume the persona: account names, "
                f"'{OWNER}' (the owner of the data directory) or '{ANYONE}' (anyone), e.g. [{OWNER}, alice]"
            )
        return tuple(i.strip() for i in raw)

    def persona(self, name: str) -> Persona:
        return Persona(
            name,
            str(self.description or ""),
            self.tables,
            self.columns,
            self.row_filters,
            identities=self.identities,
            read_held=self.read_held,
            search=self.search.rules() if self.search else SearchRules(),
        )


class PoliciesSpec(Block):
    """The personas file: `version: 1` and `personas:`; other top-level keys (YAML anchors) are left alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int
    personas: dict[str, PersonaSpec]

    @field_validator("personas", mode="before")
    @classmethod
    def _names(cls, raw: Any) -> Any:
        for name in raw:
            if not isinstance(name, str) or not NAME.match(name):
                raise Invalid("persona names are lower_snake_case", at=(str(name),))
        return raw


def load_policies(path: Path) -> Policies:
    """Read and validate a personas file.

    Args:
        path: The YAML file (`governance/personas.yml` or FOUNDATION_PERSONAS_FILE).

    Returns:
        Every persona by name.

    Raises:
        PolicyError: The file is missing or malformed; the message names the file, persona and key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError(
            f"{path}: personas file not found; set FOUNDATION_PERSONAS_FILE or create it"
        ) from exc
    except IsADirectoryError:
        raise PolicyError(
            f"{path} is a folder, not the personas file; set FOUNDATION_PERSONAS_FILE to its personas.yml"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(yaml_problem(exc, str(path))) from None
    if not isinstance(raw, dict) or raw.get("version") != 1 or not isinstance(raw.get("personas"), dict):
        raise PolicyError(f"{path}: expected 'version: 1' and a 'personas:' mapping")
    if not raw["personas"]:
        raise PolicyError(f"{path}: no personas declared")
    try:
        spec = PoliciesSpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(describe(exc, str(path))) from None
    return Policies(path, {name: body.persona(name) for name, body in spec.personas.items()})
