"""`make dev`: `dagster dev` serves the UI and its landing sensors ingest a dropped file, no clicks."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import customers_csv, orders_csv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster dev exited with {proc.returncode} while waiting for {what}")
        value = predicate()
        if value:
            return value
        time.sleep(0.5)  # polling an external server: there is no event to await
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _drop(folder: Path, name: str, content: str) -> None:
    """Land a file as writers should: under a hidden name, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".{name}.tmp").write_text(content)
    (folder / f".{name}.tmp").rename(folder / name)


def _rows(settings: Settings, table_name: str) -> int:
    try:
        table = open_catalog(settings).load_table(table_name)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    return 0 if table.current_snapshot() is None else int(table.current_snapshot().summary["total-records"])


def test_dagster_dev_serves_and_the_sensor_ingests_a_dropped_file(tmp_path):
    data = tmp_path / "data"
    home = data / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster_project" / "dagster.yaml").read_text())
    port = _free_port()
    env = {
        **os.environ,
        "FOUNDATION_DATA_DIR": str(data),
        "DAGSTER_HOME": str(home),
        "FOUNDATION_SENSOR_INTERVAL_SECONDS": "1",
        "FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS": "0",
    }
    dagster = Path(sys.executable).with_name("dagster")
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as a whole below
    )
    try:

        def server_info():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    return json.load(response)
            except OSError:
                return None

        info = _wait_for(server_info, 120, "/server_info", proc)
        assert "dagster_webserver_version" in info

        settings = Settings.for_data_dir(data)
        # Customers first: the orders suite checks that every order's customer exists.
        _drop(data / "landing" / "customers", "c.csv", customers_csv(1, 7))
        _wait_for(lambda: _rows(settings, "raw.customers") == 7, 150, "the customers run", proc)
        _drop(data / "landing" / "orders", "dropped.csv", orders_csv(1, 7))
        _wait_for(
            lambda: _rows(settings, "raw.orders") == 7, 150, "the sensor's run to commit raw.orders", proc
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert _rows(Settings.for_data_dir(data), "raw.orders") == 7
