"""Helpers of the curated-layer tests (the `sample_built` fixture lives in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def model_table_names() -> list[str]:
    root = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
    return sorted(f"{p.parent.name}.{p.stem}" for p in root.glob("*/*.sql"))
