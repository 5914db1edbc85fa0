"""Hash masks and staging hashes use a per-installation secret: made at first use, private, never public."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import threading
from dataclasses import replace

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.resources import Foundation
from dagster_project.governance.query import run_query
from dagster_project.governance.salt import SaltFileError, pii_salt, salt_file
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import PROJECT_DIR, Settings, load_settings
from tests.governance.conftest import make_lake


def test_each_installation_gets_its_own_private_salt_kept_outside_the_repository(tmp_path):
    one, two = (Settings.for_data_dir(tmp_path / name) for name in ("one", "two"))
    salt = pii_salt(one)
    assert len(salt) == 64 and int(salt, 16) >= 0
    assert pii_salt(two) != salt
    assert pii_salt(one) == salt == pii_salt(load_settings({"FOUNDATION_DATA_DIR": str(one.data_dir)}))
    path = salt_file(one)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["pii_salt"]  # no temporary file left behind
    # The default data dir (.data) is git-ignored, so the default salt file is too.
    default = salt_file(load_settings({}))
    ignored = subprocess.run(["git", "check-ignore", "-q", str(default)], cwd=PROJECT_DIR, check=False)
    assert ignored.returncode == 0


def test_no_public_default_salt_is_left(tmp_path):
    import dagster_project.settings as settings_module

    assert not hasattr(settings_module, "DEMO_PII_SALT")
    assert Settings.for_data_dir(tmp_path).pii_salt is None
    tracked = subprocess.run(
        ["git", "grep", "-l", "-e", "foundation-demo-salt", "--", ":!tests/governance/test_salt.py"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tracked.stdout == "", f"the old public salt is still in {tracked.stdout}"


def test_an_explicit_salt_wins_and_no_file_is_made(tmp_path):
    settings = load_settings({"FOUNDATION_DATA_DIR": str(tmp_path), "FOUNDATION_PII_SALT": "from-a-vault"})
    assert pii_salt(settings) == "from-a-vault"
    assert not salt_file(settings).exists()
    assert settings.to_env()["FOUNDATION_PII_SALT"] == "from-a-vault"
    # The file's salt never travels in the environment: dbt reads the file itself.
    assert Settings.for_data_dir(tmp_path).to_env()["FOUNDATION_PII_SALT"] == ""


def test_first_uses_at_once_agree_on_one_salt(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(pii_salt(settings))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1 == len(list(salt_file(settings).parent.iterdir()))


def test_an_empty_salt_file_is_an_error_naming_it(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    salt_file(settings).parent.mkdir(parents=True)
    salt_file(settings).write_text("\n")
    with pytest.raises(SaltFileError, match=r"secrets/pii_salt: the PII salt file is empty; restore it"):
        pii_salt(settings)


def test_hash_masks_use_the_installations_salt(tmp_path):
    sql = "select customer_id from curated.customer_features"
    hashes = {}
    for name in ("one", "two"):
        settings = Settings.for_data_dir(tmp_path / name)
        make_lake(settings)
        rows = run_query(settings, "data_scientist", sql).rows.to_pylist()
        salt = pii_salt(settings)
        expected = {hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in (1, 2, 3)}
        assert {r["customer_id"] for r in rows} == expected
        hashes[name] = expected
    assert not hashes["one"] & hashes["two"]


def test_the_dagster_resource_never_holds_the_salt(tmp_path, monkeypatch):
    settings = Settings.for_data_dir(tmp_path)
    salt = pii_salt(settings)
    resource = Foundation.from_settings(settings)
    assert resource.pii_salt is None and salt not in repr(resource.model_dump())
    assert pii_salt(resource.settings()) == salt
    # An explicit salt is passed by the variable's name (what the UI shows), resolved at run time.
    monkeypatch.setenv("FOUNDATION_PII_SALT", "from-a-vault")
    explicit = Foundation.from_settings(replace(settings, pii_salt="from-a-vault"))
    assert isinstance(explicit.pii_salt, dg.EnvVar) and "from-a-vault" not in repr(explicit.model_dump())


def test_dbt_connections_get_the_installations_salt(tmp_path, monkeypatch):
    from dbt.adapters.duckdb.plugins import BasePlugin

    settings = Settings.for_data_dir(tmp_path)
    for name, value in settings.to_env().items():  # what the dbt subprocess receives
        monkeypatch.setenv(name, value)
    plugin = BasePlugin.create("dagster_project.transform.plugin", config={})
    con = duckdb.connect()
    plugin.configure_connection(con)
    assert con.sql("select getvariable('pii_salt')").fetchone()[0] == pii_salt(settings)


@pytest.mark.slow
def test_staging_hashes_use_the_salt_and_it_shows_nowhere(tmp_path):
    from tests.conftest import small_platform

    settings, instance = small_platform(tmp_path)
    salt = pii_salt(settings)
    catalog = open_catalog(settings)
    landed = catalog.load_table("raw.customers").scan().to_arrow().to_pylist()
    emails = {r["customer_id"]: r["email"] for r in landed}
    staged = catalog.load_table("staging.stg_customers").scan().to_arrow().to_pylist()
    assert staged
    for row in staged:
        normalised = emails[row["customer_id"]].strip().lower()
        assert row["email_hash"] == hashlib.sha256(f"{salt}{normalised}".encode()).hexdigest()
    # Not in any file of the data dir but its own (compiled SQL, run results, cards, Data Docs,
    # the Iceberg tables), nor in dbt's logs, nor in any Dagster event (the UI's run logs).
    files = [p for p in settings.data_dir.rglob("*") if p.is_file() and p != salt_file(settings)]
    files += [p for p in (PROJECT_DIR / "dbt_project" / "logs").rglob("*") if p.is_file()]
    assert not [str(p) for p in files if salt.encode() in p.read_bytes()]
    events = [str(e) for run in instance.get_runs() for e in instance.all_logs(run.run_id)]
    assert events and not [e for e in events if salt in e]
