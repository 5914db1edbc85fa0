"""Turns a pydantic `ValidationError` over a configuration file into one line naming the spot and the fix.

The configuration files (the registry, documents.yml, personas.yml) are parsed by pydantic models.
Their validators raise `Invalid` with the words a user needs ("format must be one of csv, jsonl,
parquet, got 'xlsx'"); pydantic's own type errors get a generic sentence. `first_problem` reads
the error's structured location, never its rendered text.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

# What pydantic's type errors expect, in our words (error type -> phrase).
EXPECTED = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
}


class Invalid(ValueError):
    """A validator's finding, in the user's words.

    Attributes:
        message: The sentence, naming the key and the fix.
        at: Location below the validated value (e.g. a column name under `columns`).
        field: True when raised by a field's validator: the location's last part is the field,
            which the message already names, so it is left out of the location.
    """

    def __init__(self, message: str, *, at: tuple[str | int, ...] = (), field: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.field = field


def first_problem(error: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """The location (as path parts) and the message of the first problem of a validation error.

    Args:
        error: What `model_validate` raised.

    Returns:
        The path to the block at fault (e.g. `('datasets', 'orders')`) and the sentence.
    """
    detail = error.errors()[0]
    loc = tuple(detail["loc"])
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        where = loc[:-1] if cause.field and loc else loc
        return where + cause.at, cause.message
    key = str(loc[-1]) if loc else "value"
    expected = EXPECTED.get(detail["type"])
    if detail["type"] == "missing":
        return loc[:-1], f"missing required key(s): {key}"
    if expected:
        return loc[:-1], f"{key} must be {expected}, got {detail['input']!r}"
    return loc[:-1], f"{key}: {detail['msg']}"


def describe(error: ValidationError, file: str) -> str:
    """The first problem as one line: `FILE: datasets.orders.csv: MESSAGE` (no location at top level).

    Args:
        error: What `model_validate` raised.
        file: How to name the file (its path, or its name).
    """
    parts, message = first_problem(error)
    # List positions read as chunking.sources[0], as in the file's own YAML path notation.
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return f"{file}: {place}: {message}" if place else f"{file}: {message}"


class Block(BaseModel):
    """A mapping of a configuration file: unknown keys are refused before missing ones.

    A misspelt key is both unknown and (its right name) missing; its name is the useful clue.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def shorthand(cls, raw: Any) -> Any:
        """The block as a mapping, when the file may give it in a shorter form (a string)."""
        return raw

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        raw = cls.shorthand(raw)
        if not isinstance(raw, dict):
            raise Invalid(f"expected a mapping, got {raw!r}")
        allowed = {f.alias or name for name, f in cls.model_fields.items()}
        unknown = set(map(str, raw)) - allowed
        if unknown and cls.model_config.get("extra") == "forbid":
            raise Invalid(f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
        required = [f.alias or name for name, f in cls.model_fields.items() if f.is_required()]
        missing = [key for key in required if key not in raw]
        if missing:
            raise Invalid(f"missing required key(s): {', '.join(missing)}")
        return raw


def yaml_problem(error: yaml.YAMLError, file: str) -> str:
    """One line for a configuration file that is not YAML: the file, the line and column, and the fix.

    PyYAML's own text spans several lines with a marker under the offending character; its
    structured mark and problem carry the same facts.

    Args:
        error: What `yaml.safe_load` raised.
        file: The file's path, as the user configured it.
    """
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark else file
    problem = " ".join(str(getattr(error, "problem", None) or "unreadable").split())
    return (
        f"{where}: not valid YAML ({problem}); fix that line: indent nested keys consistently "
        "with spaces, and quote a value containing ': ' or starting with a special character"
    )
