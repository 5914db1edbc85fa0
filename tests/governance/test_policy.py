"""The personas file: the shipped one loads, mistakes name the file, the persona and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.governance.policy import PolicyError, UnknownPersona, load_policies
from dagster_project.settings import load_settings


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "personas.yml"
    indented = "".join(f"  {line}\n" for line in body.splitlines())
    path.write_text("version: 1\npersonas:\n" + indented, encoding="utf-8")
    return path


def test_shipped_personas_cover_the_layers():
    policies = load_policies(load_settings({}).personas_file)
    assert policies.persona("data_engineer").can_read("raw.customers")
    analyst = policies.persona("analyst")
    assert analyst.can_read("curated.orders") and analyst.can_read("staging.stg_customers")
    assert not analyst.can_read("raw.customers") and not analyst.can_read("ops.audit_log")
    assert analyst.column_rules("staging.stg_customers")["email_hash"].denied
    assert policies.persona("support_agent").row_filter("curated.support_tickets")
    assert policies.persona("auditor").can_read("ops.audit_log")
    assert not policies.persona("data_scientist").can_read("staging.stg_orders")


def test_personas_file_setting(tmp_path):
    path = _write(tmp_path, "x:\n  tables: ['curated.*']\n")
    assert load_settings({"FOUNDATION_PERSONAS_FILE": str(path)}).personas_file == path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "analyst:\n  tables: ['curated.*']\n  columns:\n    curated.orders:\n      amount: blur\n",
            "personas.yml: personas.analyst.columns.curated.orders.amount: unknown column rule 'blur'; "
            "use one of deny, null, hash",
        ),
        (
            "analyst:\n  tables: ['curated.*']\n  row_filters:\n"
            "    curated.orders: \"amount > (select 1 from read_parquet('x'))\"\n",
            "personas.analyst.row_filters.curated.orders",
        ),
        (
            "analyst:\n  tables: ['curated.*']\n  columns:\n    curated.orders:\n"
            "      amount: {sql: \"getenv('HOME')\"}\n",
            "function getenv() is not allowed",
        ),
        ("analyst:\n  tables: []\n", "personas.analyst.tables: list the readable tables"),
        ("analyst:\n  tables: ['orders']\n", "'orders' is not a table or pattern"),
        ("analyst:\n  tables: ['curated.*']\n  colums: {}\n", "unknown key(s) colums"),
        ("Analyst:\n  tables: ['curated.*']\n", "personas.Analyst: persona names are lower_snake_case"),
    ],
)
def test_mistakes_name_file_persona_and_key(tmp_path, body, message):
    with pytest.raises(PolicyError) as caught:
        load_policies(_write(tmp_path, body))
    assert message in str(caught.value)


def test_unknown_persona_lists_the_personas(tmp_path):
    policies = load_policies(_write(tmp_path, "analyst:\n  tables: ['curated.*']\n"))
    with pytest.raises(UnknownPersona, match="no persona 'ceo'; use one of analyst"):
        policies.persona("ceo")
