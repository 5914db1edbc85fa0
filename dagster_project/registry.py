"""The source registry: parses and validates `sources.yml`, the one declaration of every dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from dagster_project.errors import FoundationError
from dagster_project.registry_spec import RegistrySpec
from dagster_project.registry_types import (
    BAD_ROW_POLICIES,
    COMPRESSED_SUFFIXES,
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
from dagster_project.validation import describe, yaml_problem

# The vocabulary and dataclasses live in registry_types.py (registry_spec.py builds them too); callers
# import them from here, the registry's one public face.
__all__ = [
    "BAD_ROW_POLICIES",
    "COMPRESSED_SUFFIXES",
    "COMPRESSIONS",
    "DECIMAL_TYPE",
    "DUPLICATE_POLICIES",
    "ENCODINGS",
    "FORMATS",
    "NAME",
    "NESTED_MODES",
    "OWNER",
    "PII_KINDS",
    "PRIMITIVE_TYPES",
    "Column",
    "Dataset",
    "Dialect",
    "Registry",
    "RegistryError",
    "load_registry",
]


class RegistryError(FoundationError, ValueError):
    """The source registry file is malformed; the message names the file, the dataset and the fix."""


@dataclass(frozen=True)
class Registry:
    """All datasets, in declaration order."""

    path: Path
    datasets: tuple[Dataset, ...]

    def __getitem__(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        known = ", ".join(d.name for d in self.datasets)
        raise KeyError(f"no dataset {name!r} in {self.path} (known: {known})")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.datasets)

    def names(self) -> list[str]:
        return [d.name for d in self.datasets]


def load_registry(path: Path) -> Registry:
    """Parse and validate a registry file.

    Args:
        path: The YAML file (`sources.yml` by default).

    Returns:
        The registry.

    Raises:
        RegistryError: The file is missing, not YAML, or a dataset is declared wrongly.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: registry file not found; set FOUNDATION_SOURCES_FILE") from exc
    except IsADirectoryError:
        raise RegistryError(
            f"{path} is a folder, not the registry file; set FOUNDATION_SOURCES_FILE to its sources.yml"
        ) from None
    except yaml.YAMLError as exc:
        raise RegistryError(yaml_problem(exc, str(path))) from None
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), dict):
        raise RegistryError(f"{path}: expected a top-level 'datasets:' mapping of dataset name -> settings")
    if document.get("version", 1) != 1:
        raise RegistryError(f"{path}: unsupported registry version {document.get('version')!r}; expected 1")
    try:
        spec = RegistrySpec.model_validate(document)
    except ValidationError as exc:
        raise RegistryError(describe(exc, str(path))) from None
    datasets = tuple(body.dataset(name) for name, body in spec.datasets.items())
    prefixes: dict[str, str] = {}
    for dataset in datasets:
        if dataset.prefix in prefixes:
            raise RegistryError(
                f"{path}: datasets.{dataset.name}: "
                f"landing prefix {dataset.prefix!r} is already used by {prefixes[dataset.prefix]!r}"
            )
        prefixes[dataset.prefix] = dataset.name
    return Registry(path=path, datasets=datasets)
