"""`foundation rebuild raw.NAME` and `foundation retry NAME`: a registry fix reaches what has landed."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import faults
from dagster_project.cli import main
from dagster_project.defs.deployment import build_defs
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.lakehouse.test_evolution import ingest, meters, rows, table_types, write_registry  # noqa: F401


@pytest.fixture
def cli(meters: Settings, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """`foundation ...` in this process, on the test's settings; returns (exit code, stdout, stderr)."""
    for name, value in meters.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def run(*args: str, capsys=None) -> int:  # noqa: ANN001
        return main(list(args))

    return run


def _head(settings: Settings) -> int:
    return open_catalog(settings).load_table("raw.meters").current_snapshot().snapshot_id


def _quarantine(settings: Settings) -> list[dict]:
    return read_quarantine(open_catalog(settings)).to_pylist()


def _land_mixed(settings: Settings) -> None:
    land(settings, "meters/a.csv", "id,reading\n1,5\n2,6\n")
    land(settings, "meters/b.csv", "id,reading\n3,1.5\n4,2.5\n")  # no row fits int: quarantined whole
    land(settings, "meters/c.csv", "id,reading\n5,7\n6,8.25\n")  # one row set apart


def test_rebuild_after_a_type_fix_reingests_every_landed_file_and_keeps_the_old_snapshot(
    meters,  # noqa: F811
    cli,
    capsys,
):
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    _land_mixed(meters)
    first = ingest(meters, "r1")
    assert first.rows == 3 and len(first.quarantined) == 1 and len(first.rejected_rows) == 1
    # The hints name a fix that works, in the registry file the user edits.
    [whole] = [q for q in _quarantine(meters) if q["scope"] == "file"]
    [row] = [q for q in _quarantine(meters) if q["scope"] == "row"]
    assert (
        str(meters.sources_file) in whole["message"] and "datasets.meters.columns.reading" in whole["message"]
    )
    # 1.5 into int: double, a change Iceberg cannot make in place, so the rebuild (not a retry).
    assert "as double" in whole["message"] and "`foundation rebuild raw.meters`" in whole["message"]
    assert "`foundation rebuild raw.meters`" in row["message"] and "retry" not in row["message"]
    old = _head(meters)

    write_registry(meters.sources_file, {"id": "long", "reading": "double"})  # int → double: not in place
    assert cli("rebuild", "raw.meters") == 0
    out = capsys.readouterr().out
    assert "reading: int → double" in out and f"--as-of {old}" in out

    got = rows(meters)
    assert {i: r["reading"] for i, r in got.items()} == {1: 5.0, 2: 6.0, 3: 1.5, 4: 2.5, 5: 7.0, 6: 8.25}
    assert table_types(meters)["reading"] == "double"
    # Time travel reads the old snapshot as it was written, with its own types.
    table = open_catalog(meters).load_table("raw.meters")
    before = table.scan(snapshot_id=old).to_arrow()
    assert str(before.schema.field("reading").type) == "int32"
    assert sorted(before.column("reading").to_pylist()) == [5, 6, 7]
    # The swap is in the audit log.
    audit = [r for r in read_audit_log(open_catalog(meters)).to_pylist() if r["action"] == "rebuild"]
    [event] = audit
    assert json.loads(event["tables"]) == ["raw.meters"]
    assert json.loads(event["snapshot_ids"]) == {"raw.meters": _head(meters)}
    assert "reading: int → double" in event["statement"] and str(old) in event["statement"]
    # Nothing is left behind, and the next run finds every landed file handled.
    assert open_catalog(meters).list_tables("rebuild") == []
    again = ingest(meters, "r2")
    assert again.rows == 0 and not again.quarantined
    # ... and does not mistake the swap for a publish whose audit record was lost.
    messages = [r["message"] for r in read_audit_log(open_catalog(meters)).to_pylist()]
    assert not [m for m in messages if "recorded by a later run" in m]


def test_a_file_the_rebuild_quarantines_is_due_again_after_the_next_fix(meters, cli):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "string"})
    land(meters, "meters/a.csv", "id,reading\n1,5\n")
    land(meters, "meters/b.csv", "id,reading\n2,high\n")
    assert ingest(meters, "r1").rows == 2
    write_registry(meters.sources_file, {"id": "long", "reading": "long"})  # string → long: b no longer fits
    assert cli("rebuild", "raw.meters") == 0
    assert {i: r["reading"] for i, r in rows(meters).items()} == {1: 5}
    # b.csv was in the table before the rebuild: it is no longer counted as ingested, so a retry
    # after the next registry fix reads it again.
    write_registry(meters.sources_file, {"id": "long", "reading": "long", "note": "string"})
    land(meters, "meters/b.csv", "id,reading\n2,6\n")  # the user fixes the file too
    assert ingest(meters, "r2").rows == 1
    assert {i: r["reading"] for i, r in rows(meters).items()} == {1: 5, 2: 6}


@pytest.mark.parametrize("point", ["rebuild.ingested", "rebuild.before_swap"])
def test_a_crash_mid_rebuild_leaves_the_old_table_intact(meters, cli, point):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    _land_mixed(meters)
    ingest(meters, "r1")
    old, old_rows = _head(meters), rows(meters)
    write_registry(meters.sources_file, {"id": "long", "reading": "double"})

    class Crash(Exception):
        pass

    def crash(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    remove = faults.install(crash)
    try:
        with pytest.raises(Crash):
            cli("rebuild", "raw.meters")
    finally:
        remove()
    assert _head(meters) == old and rows(meters) == old_rows and table_types(meters)["reading"] == "int"
    # The next rebuild removes the half-built table and finishes.
    assert cli("rebuild", "raw.meters") == 0
    assert len(rows(meters)) == 6 and open_catalog(meters).list_tables("rebuild") == []


def test_retry_from_the_cli_widens_then_reingests_the_quarantined_files(meters, cli, capsys):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,3000000000\n2,4000000000\n")
    assert len(ingest(meters, "r1").quarantined) == 1
    write_registry(meters.sources_file, {"id": "long", "reading": "long"})
    assert cli("retry", "meters") == 0
    out = capsys.readouterr().out
    assert "+2 rows from 1 file(s)" in out and "reading: int → long" in out
    assert sorted(r["reading"] for r in rows(meters).values()) == [3000000000, 4000000000]


def test_user_story_a_column_declared_too_narrow_then_fixed_in_the_registry(meters, cli, capsys):  # noqa: F811
    """The bug of issue 14: after a registry fix, retry_quarantined quarantined the files again."""
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/2026-01.csv", "id,reading\n1,17\n2,23\n")
    land(meters, "meters/2026-02.csv", "id,reading\n3,3000000000\n4,3100000000\n")  # past int
    instance = dg.DagsterInstance.ephemeral()

    def run_raw_asset(retry_quarantined: bool) -> dg.ExecuteInProcessResult:
        """What the sensor starts, or the launchpad with `retry_quarantined: true`."""
        job = build_defs(meters).resolve_implicit_global_asset_job_def()
        config = {"retry_quarantined": retry_quarantined}
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(["raw", "meters"])],
            run_config={"ops": {"raw__meters": {"config": config}}},
        )

    assert run_raw_asset(False).success
    [quarantined] = [q for q in _quarantine(meters) if q["scope"] == "file"]
    assert (
        "2026-02.csv" in quarantined["source_file"] and "`foundation retry meters`" in quarantined["message"]
    )

    # The user widens the column, as the hint says, and retries from the launchpad.
    write_registry(meters.sources_file, {"id": "long", "reading": "long"})
    assert run_raw_asset(True).success
    assert {i: r["reading"] for i, r in rows(meters).items()} == {1: 17, 2: 23, 3: 3000000000, 4: 3100000000}
    assert table_types(meters)["reading"] == "long"

    # Later exports carry decimals: long → double cannot evolve in place.
    land(meters, "meters/2026-03.csv", "id,reading\n5,12.5\n")
    assert run_raw_asset(False).success
    write_registry(meters.sources_file, {"id": "long", "reading": "double"})
    asset = build_defs(meters).get_assets_def(dg.AssetKey(["raw", "meters"]))  # the definitions load
    assert "foundation rebuild raw.meters" in asset.specs_by_key[asset.key].description
    assert cli("retry", "meters") == 2  # refused, with the command that works
    assert "foundation rebuild raw.meters" in capsys.readouterr().err
    assert cli("rebuild", "raw.meters") == 0
    assert {i: r["reading"] for i, r in rows(meters).items()} == {
        1: 17.0,
        2: 23.0,
        3: 3000000000.0,
        4: 3100000000.0,
        5: 12.5,
    }
    assert not Path(meters.data_dir / ".data").exists()
