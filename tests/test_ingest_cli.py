"""`foundation ingest`: what has landed, no sample data, one line per file, a summary, and an exit code that
tells a file's content (0) from the environment failing (3); a failure is printed with its cause."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.settings import Settings
from tests.conftest import customers_csv, land, orders_csv

pytestmark = pytest.mark.slow

# Every read of a landed file is refused, as a permission or a broken mount would (as root the
# permission bits cannot deny a read, so the read itself is made to fail).
DENY_READS = (
    "import dagster_project.landing.local as local\n"
    "def denied(fd):\n"
    "    raise PermissionError(13, 'Permission denied')\n"
    "local.checksum_fd = denied\n"
)


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(data_dir)}
    for name in ("DAGSTER_HOME", "FOUNDATION_LANDING_URI"):
        env.pop(name, None)
    return env


def _foundation(data_dir: Path, *args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}import sys\nfrom dagster_project.cli import main\nsys.exit(main({list(args)!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(data_dir), timeout=600
    )


def _tables(data_dir: Path) -> dict[str, int]:
    status = _foundation(data_dir, "status", "--json")
    return {t["table"]: t["rows"] for t in json.loads(status.stdout)["tables"]}


def test_ingest_takes_what_landed_and_builds_only_the_models_it_feeds(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    land(settings, "customers/c1.csv", customers_csv(1, 3))
    land(settings, "customers/c1 again.csv", customers_csv(1, 3))  # the same bytes: a duplicate
    land(settings, "customers/empty.csv", b"")  # quarantined: its content, not the environment

    first = _foundation(tmp_path, "ingest")

    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    out = first.stdout
    assert "  customers/c1.csv: ingested, +3 rows" in out
    assert "  customers/c1 again.csv: duplicate, skipped" in out
    assert "  customers/empty.csv: quarantined" in out
    assert (
        "1 file(s) ingested, 3 rows; 0 rows set apart, 0 rows dropped; 1 quarantined, 1 duplicate(s)" in out
    )
    # Only what customers feed, and of that only what has all its inputs.
    assert "models downstream of raw.customers" in out and "  staging.stg_customers: 3 row(s) written" in out
    assert "  curated.orders: not built, it reads staging.stg_orders" in out
    tables = _tables(tmp_path)
    assert tables["raw.customers"] == 3 and tables["staging.stg_customers"] == 3
    # No sample data was written: datasets that did not land have no rows (dbt may make an empty table).
    assert not any(
        tables.get(t) for t in ("raw.orders", "raw.products", "raw.support_tickets", "raw.documents")
    )
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == ["customers"]

    again = _foundation(tmp_path, "ingest")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing new has landed" in again.stdout and "nothing to build" in again.stdout


def test_raw_only_and_named_datasets_build_no_models(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    land(settings, "customers/c1.csv", customers_csv(1, 3))
    land(settings, "orders/o1.csv", orders_csv(1, 3))

    done = _foundation(tmp_path, "ingest", "customers", "--raw-only")

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "customers/c1.csv: ingested, +3 rows" in done.stdout and "orders/o1.csv" not in done.stdout
    tables = _tables(tmp_path)
    assert tables["raw.customers"] == 3 and "raw.orders" not in tables
    assert not any(t.startswith(("staging.", "curated.")) for t in tables)
    unknown = _foundation(tmp_path, "ingest", "custmers")
    assert unknown.returncode == 2 and "unknown dataset(s) custmers" in unknown.stderr


def test_a_file_that_cannot_be_read_fails_with_exit_3_and_its_cause(tmp_path):
    settings = Settings.for_data_dir(tmp_path)
    land(settings, "customers/c1.csv", customers_csv(1, 3))

    failed = _foundation(tmp_path, "ingest", "--raw-only", prelude=DENY_READS)

    assert failed.returncode == 3, failed.stdout + failed.stderr[-3000:]
    [line, where] = [x for x in failed.stdout.splitlines() if "c1.csv" in x or x.startswith("      see")]
    assert line.startswith("  customers/c1.csv: FAILED: ") and "Permission denied" in line
    assert "see run " in where and "/runs/" in where
    assert "0 quarantined" in failed.stdout and "1 failed" in failed.stdout  # not its content
    assert "see the run in the UI" not in failed.stdout

    after = _foundation(tmp_path, "ingest", "--raw-only")  # the cause gone, the file is still due
    assert after.returncode == 0 and "customers/c1.csv: ingested, +3 rows" in after.stdout


def test_demo_prints_the_cause_of_a_failed_run(tmp_path):
    one_file = (
        "import dagster_project.demo.commands as demo\n"
        "from dagster_project.landing.zone import open_landing\n"
        "from tests.conftest import customers_csv\n"
        "def sample(settings, seed, scale, out=None):\n"
        "    import tempfile, pathlib\n"
        "    path = pathlib.Path(tempfile.mkdtemp()) / 'c.csv'\n"
        "    path.write_text(customers_csv(1, 3))\n"
        "    open_landing(settings).put_if_changed('customers/c1.csv', path)\n"
        "    return ['customers/c1.csv']\n"
        "demo.sync_sample_data = sample\n"
    )

    demo = _foundation(tmp_path, "demo", prelude=one_file + DENY_READS)

    assert demo.returncode != 0, demo.stdout + demo.stderr[-3000:]
    assert "  customers/c1.csv: FAILED: " in demo.stdout and "Permission denied" in demo.stdout
    assert "see run " in demo.stdout and "see the run in the UI" not in demo.stdout


def test_ingest_of_documents_alone_says_nothing_of_the_tables(tmp_path):
    # `foundation ingest documents` began with the tables' "nothing new has landed / 0 file(s)
    # ingested" while a customers file waited and the documents were about to be ingested.
    settings = Settings.for_data_dir(tmp_path)
    land(settings, "customers/c1.csv", customers_csv(1, 3))
    land(settings, "documents/guide.md", b"# Guide\n\nReturns are accepted within thirty days of delivery.\n")

    done = _foundation(tmp_path, "ingest", "documents", "--raw-only")

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "nothing new has landed" not in done.stdout and "file(s) ingested" not in done.stdout
    assert "documents: +1 document version(s)" in done.stdout
    assert _tables(tmp_path).get("raw.customers") is None  # the table was not named: left alone
