"""`foundation status` lists the quarantine records that still stand: a fix that worked clears them."""

from __future__ import annotations

import json

import pytest

from dagster_project.cli import main
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import land
from tests.lakehouse.test_evolution import ingest, meters, rows, write_registry  # noqa: F401


@pytest.fixture
def foundation(meters: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: F811
    """`foundation ...` in this process, on the test's settings: (exit code, stdout)."""
    for name, value in meters.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(args))
        return code, capsys.readouterr().out

    return run


def _status(foundation) -> dict:  # noqa: ANN001
    code, out = foundation("status", "--json")
    assert code == 0
    return json.loads(out)


def _records(settings: Settings) -> int:
    return len(read_quarantine(open_catalog(settings)))


@pytest.mark.slow  # ingests twice and runs the models
def test_a_file_retried_after_a_registry_fix_is_no_longer_listed_as_quarantined(meters, foundation):  # noqa: F811
    # The tester's planes: quarantined whole, the registry widened, `foundation retry` loaded it,
    # and status still said "quarantined files: 1".
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/planes.csv", "id,reading\n1,3000000000\n2,4000000000\n")
    assert len(ingest(meters, "r1").quarantined) == 1
    assert [q["file"].rsplit("/", 1)[-1] for q in _status(foundation)["quarantine"]] == ["planes.csv"]

    write_registry(meters.sources_file, {"id": "long", "reading": "long"})
    assert foundation("retry", "meters")[0] == 0
    status = _status(foundation)
    assert status["quarantine"] == []
    assert [(r["scope"], r["how"]) for r in status["resolved"]] == [("file", "ingested since")]
    text = foundation("status")[1]
    assert "quarantined files: 0" in text and "resolved since" in text and "1 file(s), 0 row(s)" in text
    assert _records(meters) == 1  # the audit trail keeps the record


@pytest.mark.slow  # ingests and rebuilds the models
def test_rows_a_rebuild_loaded_are_no_longer_counted_as_set_apart(meters, foundation):  # noqa: F811
    # The tester's penguins: 5 rows set apart, a rebuild loaded them, and status still said 5.
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,5\n2,2.5\n3,3.5\n4,high\n")
    assert len(ingest(meters, "r1").rejected_rows) == 3
    assert _status(foundation)["set_apart_rows"] == {"meters": 3}

    write_registry(meters.sources_file, {"id": "long", "reading": "double"})
    assert foundation("rebuild", "raw.meters")[0] == 0
    assert sorted(rows(meters)) == [1, 2, 3]
    status = _status(foundation)
    # The row the rebuild set apart again still stands (its own record, from the rebuild's run).
    assert status["set_apart_rows"] == {"meters": 1}
    assert (
        sorted((r["scope"], r["how"]) for r in status["resolved"])
        == [("row", "its file re-read since (a rebuild)")] * 3
    )
    text = foundation("status")[1]
    assert "rows set apart, values that do not fit their columns (in ops.quarantine): 1" in text
    assert "0 file(s), 3 row(s)" in text
    assert _records(meters) == 4


def test_a_file_fixed_and_landed_again_resolves_its_old_version(meters, foundation):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,high\n")
    land(meters, "meters/b.csv", "id,reading\n2,low\n")
    assert len(ingest(meters, "r1").quarantined) == 2
    land(meters, "meters/a.csv", "id,reading\n1,7\n")  # a.csv fixed at the source; b.csv is not
    assert ingest(meters, "r2").rows == 1
    status = _status(foundation)
    assert [q["file"].rsplit("/", 1)[-1] for q in status["quarantine"]] == ["b.csv"]
    assert [r["how"] for r in status["resolved"]] == ["a newer version of the file ingested since"]


def test_records_stand_while_nothing_answered_them(meters, foundation):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,5\n2,2.5\n")
    land(meters, "meters/b.csv", "id,reading\n3,high\n")
    ingest(meters, "r1")
    assert ingest(meters, "r2").rows == 0  # a later run that takes nothing answers nothing
    status = _status(foundation)
    assert len(status["quarantine"]) == 1 and status["set_apart_rows"] == {"meters": 1}
    assert status["resolved"] == []
    assert "resolved since" not in foundation("status")[1]


def test_status_names_the_files_whose_rows_were_set_apart_and_how_to_see_them(meters, foundation):  # noqa: F811
    write_registry(meters.sources_file, {"id": "long", "reading": "int"})
    land(meters, "meters/a.csv", "id,reading\n1,5\n2,2.5\n3,high\n")
    land(meters, "meters/b c.csv", "id,reading\n4,6\n5,lots\n")
    assert len(ingest(meters, "r1").rejected_rows) == 3
    status = _status(foundation)
    assert status["set_apart_files"] == [
        {"dataset": "meters", "file": "meters/a.csv", "rows": 2},
        {"dataset": "meters", "file": "meters/b c.csv", "rows": 1},
    ]
    text = foundation("status")[1]
    assert "meters: 3 in 2 file(s)" in text
    assert "    meters/a.csv: 2\n" in text and "    meters/b c.csv: 1\n" in text
    # The command status names shows exactly those rows.
    [command] = [line.split("see them: ", 1)[1] for line in text.splitlines() if "see them: " in line]
    assert command.startswith('foundation query --as auditor "') and command.endswith('"')
    code, out = foundation("query", "--as", "auditor", command.split('"')[1], "--format", "json")
    assert code == 0
    assert sorted((r["source_file"].rsplit("/", 1)[-1], r["line"]) for r in json.loads(out)) == [
        ("a.csv", 3),
        ("a.csv", 4),
        ("b%20c.csv", 3),
    ]


def test_status_lists_failed_runs_with_their_file_and_first_error(meters, foundation):  # noqa: F811
    import dagster as dg

    from dagster_project.errors import EnvironmentFailure

    @dg.op
    def raw__meters():
        raise EnvironmentFailure(
            "meters/a.csv: reading it ran out of memory; the file stays due\nmore detail"
        )

    @dg.job
    def ingest_job():
        raw__meters()

    assert _status(foundation)["failed_runs"] == {"storage": "none", "count": 0, "runs": []}
    meters.dagster_home_dir.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(meters.dagster_home_dir)) as instance:  # the CLI's instance
        result = ingest_job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={"foundation/dataset": "meters", "foundation/file": "meters/a.csv (+2 more)"},
        )
    assert not result.success
    runs = _status(foundation)["failed_runs"]
    assert runs["storage"] == "sqlite" and runs["count"] == 1
    [run] = runs["runs"]
    assert run["run_id"] == result.run_id and run["dataset"] == "meters"
    assert (
        run["error"] == "EnvironmentFailure: meters/a.csv: reading it ran out of memory; the file stays due"
    )
    text = foundation("status")[1]
    assert f"run {result.run_id} [meters] meters/a.csv (+2 more)" in text
    assert "    EnvironmentFailure: meters/a.csv: reading it ran out of memory" in text
    assert "http://127.0.0.1:3000/runs/<run id>" in text


def test_a_failed_run_whose_first_line_introduces_what_failed_names_it(meters, foundation):  # noqa: F811
    """Dagster's failed-check error says what failed on its second line ("... severity:" then the check)."""
    import dagster as dg

    @dg.op
    def build():
        raise RuntimeError(
            "1 blocking asset check failed with ERROR severity:\nstaging/stg_orders: not_null_id\n"
        )

    @dg.job
    def dbt_job():
        build()

    meters.dagster_home_dir.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(meters.dagster_home_dir)) as instance:
        assert not dbt_job.execute_in_process(instance=instance, raise_on_error=False).success
    [run] = _status(foundation)["failed_runs"]["runs"]
    assert run["error"] == (
        "RuntimeError: 1 blocking asset check failed with ERROR severity: staging/stg_orders: not_null_id"
    )
