"""Personas name who may assume them; the audit log names the real OS account, never a variable."""

from __future__ import annotations

import os
import pwd
from dataclasses import replace

import pytest

from dagster_project.cli import main
from dagster_project.governance.policy import IdentityNotAllowed, PolicyError, load_policies
from dagster_project.governance.query import run_query
from dagster_project.identity import acting_as, data_dir_owner, os_account

COUNT = "select count(*) n from curated.customer_features"


def test_the_audit_log_names_the_os_account_whatever_the_environment_claims(lake, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    for name in ("FOUNDATION_ACTOR", "USER", "LOGNAME", "USERNAME"):
        monkeypatch.setenv(name, "alice@example.com")
    assert main(["query", "--as", "analyst", COUNT]) == 0
    assert main(["query", "--as", "analyst", "select * from raw.people"]) == 3
    capsys.readouterr()
    real = pwd.getpwuid(os.getuid()).pw_name
    assert os_account() == real
    assert {e["actor"] for e in lake.audit()} == {real}


def test_an_identity_a_persona_does_not_name_is_refused_in_one_line_and_audited(lake):
    # data_engineer: [owner], the account owning the data directory (this test's user).
    assert data_dir_owner(lake.settings) == os_account()
    assert run_query(lake.settings, "data_engineer", COUNT).rows.to_pylist() == [{"n": 3}]
    sql = "select email from raw.people"
    with pytest.raises(IdentityNotAllowed) as caught:
        run_query(lake.settings, "data_engineer", sql, identity="mallory")
    assert str(caught.value).startswith(
        f"'mallory' may not act as persona 'data_engineer' (its identities: owner ({os_account()}))"
    )
    (event,) = lake.audit(sql)
    assert (event["actor"], event["action"], event["outcome"]) == ("mallory", "query_denied", "denied")
    assert event["persona"] == "data_engineer" and "may not act as persona" in event["message"]
    # The open, masked personas: anyone; the audit row names who it was.
    assert run_query(lake.settings, "analyst", COUNT, identity="mallory").rows.to_pylist() == [{"n": 3}]
    assert [e["actor"] for e in lake.audit(COUNT)] == [os_account(), "mallory"]


def test_the_cli_refuses_a_persona_whose_identities_leave_out_the_user(lake, tmp_path, monkeypatch, capsys):
    personas = tmp_path / "personas.yml"
    personas.write_text(
        "version: 1\npersonas:\n  engineer:\n    identities: [someone_else, owner_of_nothing]\n"
        "    tables: ['*.*']\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    monkeypatch.setenv("FOUNDATION_PERSONAS_FILE", str(personas))
    assert main(["query", "--as", "engineer", COUNT]) == 3
    err = capsys.readouterr().err
    assert err == (
        f"denied: {os_account()!r} may not act as persona 'engineer' (its identities: someone_else, "
        "owner_of_nothing); ask the owner of the personas file to add you to its identities, or use another "
        "persona\n"
    )
    (event,) = lake.audit(COUNT)
    assert event["outcome"] == "denied"


def test_acting_as_binds_audit_records_for_a_service_and_unbinds(lake):
    with acting_as("svc-user-42"):
        run_query(lake.settings, "analyst", COUNT)
    run_query(lake.settings, "analyst", COUNT)
    assert [e["actor"] for e in lake.audit(COUNT)] == ["svc-user-42", os_account()]
    with pytest.raises(ValueError):
        with acting_as("  "):
            pass


def test_shipped_personas_keep_raw_pii_and_the_audit_trail_to_the_owner(settings):
    policies = load_policies(settings.personas_file)
    for name in ("data_engineer", "auditor"):
        persona = policies.persona(name)
        assert persona.identities == ("owner",)
        assert persona.may_be_assumed_by("alice", owner="alice")
        assert not persona.may_be_assumed_by("mallory", owner="alice")
    for name in ("analyst", "data_scientist", "support_agent"):
        assert policies.persona(name).may_be_assumed_by("anyone", owner="alice")
    assert policies.persona("data_engineer").read_held
    assert not any(policies.persona(n).read_held for n in ("analyst", "data_scientist", "support_agent"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("identities: alice", "personas.x.identities: list who may assume the persona"),
        ("identities: []", "personas.x.identities: list who may assume the persona"),
        ("read_held: yes please", "personas.x.read_held: expected true or false"),
    ],
)
def test_identity_and_read_held_mistakes_name_the_key(tmp_path, extra, message):
    path = tmp_path / "personas.yml"
    body = f"version: 1\npersonas:\n  x:\n    tables: ['curated.*']\n    {extra}\n"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policies(path)


def test_a_persona_that_names_no_identities_is_the_owners(tmp_path, lake):
    path = tmp_path / "personas.yml"
    path.write_text("version: 1\npersonas:\n  x:\n    tables: ['curated.*']\n", encoding="utf-8")
    assert load_policies(path).persona("x").identities == ("owner",)
    settings = replace(lake.settings, personas_file=path)
    assert run_query(settings, "x", COUNT).rows.num_rows == 1
    with pytest.raises(IdentityNotAllowed):
        run_query(settings, "x", COUNT, identity="mallory")
