"""Small governed tables made with pyiceberg directly (fast: no ingest, no dbt)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.tables import ensure_namespace, open_catalog
from dagster_project.settings import Settings

EMAIL = "ada.lovelace@example.com"
PHONE = "+44 20 7946 0958"


@dataclass
class Lake:
    settings: Settings
    catalog: Catalog

    def table(self, name: str) -> Table:
        return self.catalog.load_table(name)

    def audit(self, statement: str | None = None) -> list[dict]:
        """Audit rows, oldest first (of one statement, if given)."""
        rows = sorted(read_audit_log(self.catalog).to_pylist(), key=lambda r: r["event_time"])
        return [r for r in rows if statement is None or r["statement"] == statement]


def people(ids: list[int], emails: list[str] | None = None, phones: list[str] | None = None) -> pa.Table:
    """Rows of `raw.people`: an id, an email and a phone number (PII)."""
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": emails or [f"person{i}@example.org" for i in ids],
            "phone": phones or [f"+1 555 01{i:02d}" for i in ids],
        }
    )


def features(ids: list[int]) -> pa.Table:
    """Rows shaped like `curated.customer_features` (the data_scientist hashes customer_id)."""
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "segment": ["smb" if i % 2 else "consumer" for i in ids],
            "email_domain": ["example.org"] * len(ids),
        }
    )


def make_lake(settings: Settings) -> Lake:
    """raw.people (with planted PII) and curated.customer_features, one commit each on main."""
    catalog = open_catalog(settings)
    for namespace, name, rows in (
        ("raw", "people", people([1, 2, 3], [EMAIL, "b@example.org", "c@example.org"], [PHONE, "1", "2"])),
        ("curated", "customer_features", features([1, 2, 3])),
    ):
        ensure_namespace(catalog, namespace)
        catalog.create_table(f"{namespace}.{name}", schema=rows.schema).append(rows)
    return Lake(settings, catalog)


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return make_lake(settings)
