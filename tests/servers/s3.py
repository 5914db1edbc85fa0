"""A real S3 endpoint for tests: `moto_server` in its own process group, restartable on the same port.

moto keeps every bucket and object in memory, so `stop()` followed by `start()` gives an *empty*
store on the same endpoint: clients built before the restart keep working, but tests must create
their buckets again. The session-scoped `s3_server` fixture is shared by every test; a test that
stops it should use its own `S3Server` instead (see `tests/landing/test_s3.py`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
import botocore.config
import pytest

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
REGION = "us-east-1"
POLL_SECONDS = 0.05  # polling a child process's socket: there is no event to await


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def s3_env(endpoint_url: str) -> dict[str, str]:
    """Environment for boto3 (and the platform) to talk to `endpoint_url` with dummy credentials.

    Besides the dummy credentials it points every S3 client without an explicit endpoint at the
    test server (`AWS_ENDPOINT_URL_S3`) and hides the user's AWS config files and the instance
    metadata service, so a test can never reach AWS.
    """
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "FOUNDATION_S3_ENDPOINT_URL": endpoint_url,
    }


# Variables that would otherwise take precedence over, or add to, the dummy credentials.
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


class S3Server:
    """`moto_server` on 127.0.0.1; `start()` and `stop()` may be called repeatedly, same port each time."""

    def __init__(self, port: int | None = None, *, startup_timeout: float = 20) -> None:
        self.port = port or _free_port()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self._client: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self, timeout: float = 0.5) -> bool:
        """Whether anything answers HTTP on the port (any status counts)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=timeout):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def start(self) -> S3Server:
        """Start the server (if not running) and return once it answers HTTP.

        Raises:
            RuntimeError: The server exited or did not answer within `startup_timeout`.
        """
        if self.process is not None and self.process.poll() is None:
            return self
        if not _port_is_free(self.port):  # else the readiness poll would be answered by someone else
            raise RuntimeError(f"port {self.port} is already in use; cannot start moto_server there")
        # Werkzeug logs every request to stderr: a file, not a pipe, which would fill and block it.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")[-2000:]
                code = self.process.returncode
                self.stop()
                raise RuntimeError(f"moto_server on port {self.port} exited with {code}: {output}")
            if self.answers():
                return self
            time.sleep(POLL_SECONDS)
        self.stop()
        raise RuntimeError(f"moto_server on port {self.port} did not answer within {self.startup_timeout}s")

    def stop(self, timeout: float = 5) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after `timeout` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout)
            except ProcessLookupError:  # already gone
                process.wait()
            except subprocess.TimeoutExpired:
                continue
        if self.log is not None:
            self.log.close()
            self.log = None

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server with dummy credentials, independent of the environment.

        Without `config` the same client is returned each time (building one takes ~0.1 s); it
        survives restarts because the port does not change. Checksums are only sent where S3
        requires them, which makes seeding moto (CPU-bound, ~5 ms a request) a little faster.
        """
        if not config and self._client is not None:
            return self._client
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, request_checksum_calculation="when_required", **config
            ),
        )
        if not config:
            self._client = client
        return client

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto_server for the whole session; tests share it, so each should use its own bucket."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy AWS credentials and the test endpoint in the environment for the duration of one test."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    env = s3_env(s3_server.endpoint_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
