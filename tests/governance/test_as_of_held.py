"""`--as-of` reaches only snapshots that were on main, unless the persona may read held batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dagster_project.cli import main
from dagster_project.governance.query import QueryDenied, run_query
from dagster_project.governance.time_travel import main_snapshot_ids
from tests.governance.conftest import features

TABLE = "curated.customer_features"
COUNT = f"select count(*) n from {TABLE}"


def _hold(lake, branch: str = "audit-r9") -> int:
    """Commit two rows to an audit branch, as a batch the quality gate held back; its snapshot id."""
    table = lake.table(TABLE)
    table.manage_snapshots().create_branch(table.metadata.refs["main"].snapshot_id, branch).commit()
    table.append(features([101, 102]), branch=branch)
    return lake.table(TABLE).metadata.refs[branch].snapshot_id


def _count(lake, persona: str, as_of: str) -> int:
    return run_query(lake.settings, persona, COUNT, as_of=as_of).rows.to_pylist()[0]["n"]


def test_a_held_batch_is_out_of_reach_unless_the_persona_may_read_held_batches(lake):
    first = lake.table(TABLE).metadata.refs["main"].snapshot_id
    held = _hold(lake)
    assert held not in main_snapshot_ids(lake.table(TABLE))
    assert _count(lake, "data_engineer", str(held)) == 5  # read_held: true
    with pytest.raises(QueryDenied) as caught:
        run_query(lake.settings, "analyst", COUNT, as_of=str(held))
    assert str(caught.value).startswith(
        f"snapshot {held} of {TABLE} was never on main (held on audit-r9); persona 'analyst' may read "
        "only what was published"
    )
    (event,) = [e for e in lake.audit(COUNT) if e["persona"] == "analyst"]
    assert (event["action"], event["outcome"]) == ("query_denied", "denied")
    # What was on main stays readable, by id and by time (a time never lands on the branch).
    assert _count(lake, "analyst", str(first)) == 3
    assert _count(lake, "analyst", datetime.now(UTC).isoformat()) == 3


def test_a_discarded_batch_stays_out_of_reach_and_a_released_one_comes_within(lake):
    held = _hold(lake)
    table = lake.table(TABLE)
    table.manage_snapshots().remove_branch("audit-r9").commit()
    with pytest.raises(QueryDenied, match="left by a batch that never reached main"):
        run_query(lake.settings, "analyst", COUNT, as_of=str(held))
    released = _hold(lake, "audit-r10")
    with pytest.raises(QueryDenied):
        run_query(lake.settings, "analyst", COUNT, as_of=str(released))
    lake.table(TABLE).manage_snapshots().set_current_snapshot(ref_name="audit-r10").commit()
    assert _count(lake, "analyst", str(released)) == 5


def test_the_cli_says_denied_in_one_line(lake, monkeypatch, capsys):
    held = _hold(lake)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(lake.settings.data_dir))
    assert main(["query", "--as", "analyst", "--as-of", str(held), COUNT]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"denied: snapshot {held} of {TABLE} was never on main") and err.count("\n") == 1
