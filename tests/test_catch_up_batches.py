"""Catch-up (`foundation ingest`, `make demo`) takes a dataset's due files in one run, as the landing sensor
does, and still says what became of each file: its rows, its quarantine, its hold, its duplicate."""

from __future__ import annotations

import io

import dagster as dg
import pytest

from dagster_project.catch_up import catch_up, pending_work
from dagster_project.ingest_landed import EXIT_ENVIRONMENT, EXIT_OK, ingest_command
from dagster_project.settings import Settings
from tests.conftest import customers_csv, land, orders_csv


def _orders_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return instance.get_runs(filters=dg.RunsFilter(tags={"foundation/dataset": "orders"}))


@pytest.fixture
def landed(settings):
    land(settings, "customers/c.csv", customers_csv(1, 7))  # the orders gate checks each order's customer
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", orders_csv(10, 3).replace("\n11,", "\n,"))  # order 11 has no id: held
    land(settings, "orders/c.csv", b"")  # empty: quarantined
    land(settings, "orders/d.csv", orders_csv(20, 3).replace("21.50", "lots"))  # one amount set apart
    land(settings, "orders/e.csv", orders_csv(1, 3))  # the bytes of a.csv: a duplicate
    land(settings, "orders/f.csv", orders_csv(30, 4))
    return settings


def test_a_datasets_files_go_in_one_run_and_each_file_gets_its_own_outcome(landed):
    instance = dg.DagsterInstance.ephemeral()

    outcomes = catch_up(landed, instance)

    [run] = _orders_runs(instance)  # one run for the six files, not one per file
    assert run.tags["foundation/files"] == "6"
    by_key = {o.key: o for o in outcomes if o.dataset == "orders"}
    assert sorted(by_key) == [f"orders/{n}.csv" for n in "abcdef"]
    assert {o.run_id for o in by_key.values()} == {run.run_id}
    a, b, c, d, e, f = (by_key[f"orders/{n}.csv"] for n in "abcdef")
    assert (a.rows, f.rows, d.rows, d.set_apart) == (3, 4, 2, 1)
    assert all(o.success and not o.held_back for o in (a, c, d, e, f))
    # The file held by its own rows: the branch and what it failed, no rows on main, not a failure.
    assert b.held_back and not b.failed and b.rows == 0
    assert b.audit_branch == f"audit-{run.run_id}" and "order_id_not_null" in b.failed_expectations
    assert c.quarantined == 1 and c.reasons and c.rows == 0 and not c.duplicates
    assert e.duplicates == 1 and e.rows == 0 and not e.quarantined
    assert not [o for o in outcomes if o.failed]
    # Exactly once: nothing is due again (the held file waits for release or discard).
    assert pending_work(landed).files == []
    assert catch_up(landed, instance) == [] and len(_orders_runs(instance)) == 1


def test_catch_up_cuts_a_backlog_as_the_sensor_does(tmp_path):
    settings = Settings.for_data_dir(tmp_path / "data", sensor_max_files_per_run=2)
    for i in range(5):
        land(settings, f"orders/o{i}.csv", orders_csv(1 + 10 * i, 2))
    land(settings, "customers/c.csv", customers_csv(1, 7))
    instance = dg.DagsterInstance.ephemeral()

    outcomes = catch_up(settings, instance)

    assert sorted(int(r.tags["foundation/files"]) for r in _orders_runs(instance)) == [1, 2, 2]
    assert sum(o.rows for o in outcomes if o.dataset == "orders") == 10


def test_a_failed_batch_run_fails_each_of_its_files_with_the_runs_error(settings, monkeypatch):
    land(settings, "customers/c1.csv", customers_csv(1, 3))
    land(settings, "customers/c2.csv", customers_csv(4, 3))

    def broken(*args, **kwargs):
        raise RuntimeError("the converter broke")  # not transient: no retry

    monkeypatch.setattr("dagster_project.defs.raw.assets.ingest_dataset", broken)
    out = io.StringIO()

    code = ingest_command(settings, ["customers"], raw_only=True, out=out)

    assert code == EXIT_ENVIRONMENT
    printed = out.getvalue()
    assert "  customers/c1.csv: FAILED: RuntimeError: the converter broke" in printed
    assert "  customers/c2.csv: FAILED: RuntimeError: the converter broke" in printed
    assert printed.count(" see run ") == 2 and ", 2 failed" in printed
    monkeypatch.undo()
    assert ingest_command(settings, ["customers"], raw_only=True, out=io.StringIO()) == EXIT_OK


def test_a_batch_of_many_files_shows_its_progress_while_its_run_goes_on(settings):
    for i in range(30):
        land(settings, f"orders/o{i:02d}.csv", orders_csv(1 + 10 * i, 2))
    for i in range(3):
        land(settings, f"customers/c{i}.csv", customers_csv(1 + 10 * i, 2))
    instance = dg.DagsterInstance.ephemeral()
    events: list[tuple[str, str]] = []

    catch_up(
        settings,
        instance,
        on_outcome=lambda o: events.append(("outcome", o.key)),
        on_progress=lambda dataset, line: events.append((dataset, line)),
    )

    progress = [line for who, line in events if who == "orders"]
    assert progress[0] == "30 files in one run"
    assert progress[-1].startswith("[30/30] ")  # the fast lane's groups, or every tenth file
    assert 2 <= len(progress) <= 12  # not a line per file
    # Shown while the run goes on: before any of the batch's own outcomes.
    first_outcome = events.index(("outcome", "orders/o00.csv"))
    assert max(events.index(("orders", line)) for line in progress) < first_outcome
    # A small batch says nothing more than its line per file.
    assert not [who for who, _ in events if who == "customers"]
    assert len([e for e in events if e[0] == "outcome"]) == 33


def test_foundation_ingest_prints_a_large_batchs_progress(settings):
    land(settings, "customers/c.csv", customers_csv(1, 7))  # the orders gate checks each order's customer
    for i in range(25):
        land(settings, f"orders/o{i:02d}.csv", orders_csv(1 + 10 * i, 2))
    out = io.StringIO()

    assert ingest_command(settings, [], raw_only=True, out=out) == EXIT_OK

    lines = out.getvalue().splitlines()
    start = lines.index("  orders: 25 files in one run")
    assert lines[start + 1].startswith("  orders: [")
    assert any(line.startswith("  orders: [25/25] ") for line in lines)
    assert lines.index("  orders/o00.csv: ingested, +2 rows") > start


def test_status_says_which_files_of_a_failed_run_a_later_run_took(settings, monkeypatch, capsys):
    from dagster_project.status import print_status, table_status

    land(settings, "customers/c1.csv", customers_csv(1, 3))
    land(settings, "customers/c2.csv", customers_csv(4, 3))
    c3 = land(settings, "customers/c3.csv", customers_csv(7, 3))
    monkeypatch.setattr(
        "dagster_project.defs.raw.assets.ingest_dataset",
        lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("the converter broke")),
    )
    assert ingest_command(settings, ["customers"], raw_only=True, out=io.StringIO()) == EXIT_ENVIRONMENT
    [failed] = table_status(settings)["failed_runs"]["runs"]
    assert failed["files"] == [f"customers/c{i}.csv" for i in (1, 2, 3)] and failed["taken_since"] == []

    monkeypatch.undo()
    c3.unlink()  # taken by no later run
    assert ingest_command(settings, ["customers"], raw_only=True, out=io.StringIO()) == EXIT_OK
    status = table_status(settings)
    [failed] = status["failed_runs"]["runs"]
    assert failed["taken_since"] == ["customers/c1.csv", "customers/c2.csv"]
    print_status(status)
    printed = capsys.readouterr().out
    since = "    of its 3 file(s) now: 2 on main, quarantined or duplicates; 1 due (`foundation ingest`)\n"
    assert since in printed


def test_a_new_data_folder_gets_the_instance_settings_make_would_write(tmp_path, capfd, monkeypatch):
    from dagster_project.defs.deployment import INSTANCE_YAML

    settings = Settings.for_data_dir(tmp_path / "new")  # never set up by `make instance`
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home_dir))  # as a user points at it
    land(settings, "customers/c.csv", customers_csv(1, 3))

    assert ingest_command(settings, ["customers"], raw_only=True, out=io.StringIO()) == EXIT_OK

    written = settings.dagster_home_dir / "dagster.yaml"
    assert written.read_text() == INSTANCE_YAML.read_text()
    captured = capfd.readouterr()
    assert "No dagster instance configuration file" not in captured.out + captured.err
    written.write_text("telemetry:\n  enabled: false\n")  # one of the user's own is kept
    assert ingest_command(settings, ["customers"], raw_only=True, out=io.StringIO()) == EXIT_OK
    assert written.read_text() == "telemetry:\n  enabled: false\n"


def test_every_file_has_its_progress_line_whatever_became_of_it(tmp_path):
    import os

    settings = Settings.for_data_dir(tmp_path / "data", sensor_max_files_per_run=25)
    land(settings, "customers/c.csv", customers_csv(1, 7))
    for i in range(50):  # landing order by modified time: the two bad files come last
        path = land(settings, f"orders/o{i:02d}.csv", b"" if i == 24 else orders_csv(1 + 10 * i, 2))
        os.utime(path, (1_780_000_000 + i, 1_780_000_000 + i))
    lines: list[str] = []

    catch_up(
        settings,
        dg.DagsterInstance.ephemeral(),
        datasets=["orders"],
        on_progress=lambda dataset, line: lines.append(line),
    )

    first = lines.index("25 files in one run (1 of 2)")
    second = lines.index("25 files in one run (2 of 2)")
    # The empty file sends its batch the per-file way: a line about every tenth, the last one too.
    assert lines[second - 1].startswith("[25/25] orders/o24.csv: quarantined")
    assert 8 <= second - first - 1 <= 11
    assert lines[first + 1] == "[3/25] orders/o02.csv: 2 rows staged"
    assert lines[-1].startswith("[25/25] ")  # the second batch, small files converted together


def test_status_counts_a_released_file_as_handled_and_a_discarded_one_as_discarded(settings):
    from dagster_project.lakehouse.held import held_batches
    from dagster_project.lakehouse.review import discard_held, release_held
    from dagster_project.lakehouse.tables import open_catalog
    from dagster_project.status import table_status
    from tests.ingest.test_crash_points import NO_ORDER_ID

    land(settings, "customers/c.csv", customers_csv(1, 7))
    land(settings, "orders/good.csv", orders_csv(20, 2))
    land(settings, "orders/held.csv", orders_csv(1, 2) + NO_ORDER_ID)  # held alone: its run fails
    ingest_command(settings, [], raw_only=True, out=io.StringIO())
    [run] = [r for r in table_status(settings)["failed_runs"]["runs"] if r["dataset"] == "orders"]
    assert run["files"] == ["orders/good.csv", "orders/held.csv"]
    # What the failed run itself published counts; held is not handled for good.
    assert run["taken_since"] == ["orders/good.csv"] and run["held"] == ["orders/held.csv"]

    [batch] = held_batches(open_catalog(settings).load_table("raw.orders"))
    release_held(settings, "raw.orders", batch.branch, via="cli")
    [run] = [r for r in table_status(settings)["failed_runs"]["runs"] if r["dataset"] == "orders"]
    assert run["taken_since"] == ["orders/good.csv", "orders/held.csv"] and run["held"] == []  # released

    land(settings, "orders/other.csv", orders_csv(10, 2) + NO_ORDER_ID)
    ingest_command(settings, ["orders"], raw_only=True, out=io.StringIO())
    [batch] = held_batches(open_catalog(settings).load_table("raw.orders"))
    discard_held(settings, "raw.orders", batch.branch, via="cli")
    [run] = [r for r in table_status(settings)["failed_runs"]["runs"] if "orders/other.csv" in r["files"]]
    assert (run["taken_since"], run["held"], run["discarded"]) == ([], [], ["orders/other.csv"])


def test_a_discarded_batch_is_not_taken_again_until_its_file_changes(settings):
    from dagster_project.catch_up import pending_work
    from dagster_project.lakehouse.held import held_batches
    from dagster_project.lakehouse.review import discard_held
    from dagster_project.lakehouse.tables import open_catalog
    from tests.ingest.test_crash_points import NO_ORDER_ID

    land(settings, "customers/c.csv", customers_csv(1, 7))
    land(settings, "orders/bad.csv", orders_csv(1, 2) + NO_ORDER_ID)  # held back whole
    ingest_command(settings, [], raw_only=True, out=io.StringIO())
    [batch] = held_batches(open_catalog(settings).load_table("raw.orders"))

    discard_held(settings, "raw.orders", batch.branch, via="cli")

    # Before: due at once, and every `foundation ingest` held the same bytes again.
    assert pending_work(settings).files == []
    out = io.StringIO()
    assert ingest_command(settings, ["orders"], raw_only=True, out=out) == EXIT_OK
    assert "nothing new has landed" in out.getvalue()
    assert held_batches(open_catalog(settings).load_table("raw.orders")) == []
    land(settings, "orders/bad.csv", orders_csv(1, 2))  # a corrected delivery: a new version
    assert pending_work(settings).files == [("orders", "orders/bad.csv")]
    out = io.StringIO()
    ingest_command(settings, ["orders"], raw_only=True, out=out)
    assert "  orders/bad.csv: ingested, +2 rows" in out.getvalue()
