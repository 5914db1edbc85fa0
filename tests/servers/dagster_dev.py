"""`dagster dev` for tests: own process group on a free loopback port, stopped as a whole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev`: its URL, server info and process (to notice if it dies)."""

    url: str
    info: dict
    process: subprocess.Popen

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> object:
        """Poll `predicate` until it is truthy; fail at once if dagster dev exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"dagster dev exited with {self.process.returncode} while waiting for {what}"
                )
            value = predicate()
            if value:
                return value
            time.sleep(0.5)  # polling an external server: there is no event to await
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dagster_dev(env: dict[str, str], log_path: Path, *, docs: bool = False) -> Iterator[DagsterDev]:
    """Start `dagster dev` with `env` (repo workspace), wait for /server_info, stop it afterwards.

    With `docs`, start it as `make dev` does: through the launcher that runs the docs server (cards,
    Data Docs) beside it, on `FOUNDATION_DOCS_PORT` of `env`.
    """
    port = _free_port()
    log = log_path.open("w")
    launcher = (
        [sys.executable, "-m", "dagster_project.docs_site.dev"]
        if docs
        else [str(Path(sys.executable).with_name("dagster")), "dev"]
    )
    process = subprocess.Popen(
        [*launcher, "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as a whole below
    )
    url = f"http://127.0.0.1:{port}"

    def server_info() -> dict | None:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                return json.load(response)
        except OSError:
            return None

    try:
        pending = DagsterDev(url, {}, process)
        info = pending.wait_for(server_info, 120, "/server_info")
        yield DagsterDev(url, info, process)  # type: ignore[arg-type]
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:  # it exited early and its group is gone: the failure says why
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def embedded_env(data: Path, **overrides: str) -> dict[str, str]:
    """The environment of `make dev` on the embedded default rooted at `data`, its instance file in place.

    Sensor intervals are the shipped ones unless `overrides` sets FOUNDATION_SENSOR_* variables.
    """
    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster_project" / "dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDATION_SENSOR_")}
    return {**env, "FOUNDATION_DATA_DIR": str(data), "DAGSTER_HOME": str(home), **overrides}


def drop_file(folder: Path, name: str, content: str | bytes) -> None:
    """Land a file as writers should: under a hidden name, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    tmp.rename(folder / name)


def table_rows(settings, name: str) -> int:
    """Rows on main of an Iceberg table; 0 while it does not exist yet."""
    from dagster_project.lakehouse.tables import open_catalog

    try:
        snapshot = open_catalog(settings).load_table(name).current_snapshot()
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    return int(snapshot.summary["total-records"]) if snapshot else 0
