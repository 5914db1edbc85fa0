"""`make dev`'s launcher: the docs server runs beside dagster dev and stops when dagster dev stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.servers.dagster_dev import ROOT, _free_port, embedded_env

pytestmark = pytest.mark.slow


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until(condition, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the launcher exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)  # polling servers in another process: there is no event to await


def test_make_dev_serves_docs_beside_dagster_dev_and_ctrl_c_stops_both(tmp_path):
    docs_port, ui_port = _free_port(), _free_port()
    env = embedded_env(tmp_path / "data", FOUNDATION_DOCS_PORT=str(docs_port))
    command = [sys.executable, "-m", "dagster_project.docs_site.dev", "-h", "127.0.0.1", "-p", str(ui_port)]
    log = (tmp_path / "dev.log").open("w")
    # Its own process group: a terminal's Ctrl-C is a SIGINT to the whole foreground group.
    process = subprocess.Popen(
        [*command, "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{docs_port}/"), process, 60, "the docs server")
        wait_until(lambda: answers(f"http://127.0.0.1:{ui_port}/server_info"), process, 180, "dagster dev")
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=90) == 0
        assert not answers(f"http://127.0.0.1:{docs_port}/")
        assert not answers(f"http://127.0.0.1:{ui_port}/server_info")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
