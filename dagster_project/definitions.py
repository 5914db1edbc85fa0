"""Dagster definitions: what `dagster dev` and the code server load (built at import)."""

from __future__ import annotations

from dagster_project.defs.deployment import build_defs
from dagster_project.settings import load_settings

__all__ = ["build_defs", "defs"]

defs = build_defs(load_settings())
