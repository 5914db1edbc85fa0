"""A real local Ray cluster for tests: a head and worker nodes on 127.0.0.1, each `ray start --block`
in its own process group, every port its own, stopped by the test (never `ray stop`, which stops every
Ray process on the machine, another test's or a developer's included).

The head runs no tasks (`--num-cpus=0`): the work goes to the worker nodes, as on a real cluster, and a
test can kill a worker node (`kill_worker`) while the driver and the head live on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

RAY = Path(sys.executable).with_name("ray")
STARTED = "Ray runtime started"  # what `ray start` prints once the node is up (then --block waits)
WORKER_PORTS = 32  # task and actor worker processes one node may start
NODE_PORTS = 6 + WORKER_PORTS
START_TIMEOUT = 180.0  # a loaded 2-core machine takes 30 s and more to start a head


def _free_ports(count: int) -> list[int]:
    """Ports free now, all different (kept bound until all are chosen)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class RayNode:
    """One `ray start --block` process group and what it printed."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own venv's ray
                [str(RAY), "start", "--block", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own group: stopped with everything it started
            )
        self._await_started()

    def _await_started(self) -> None:
        # `ray start` writes its banner once the node has registered; the log is the event to await.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if STARTED in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ray start did not come up; its output:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        """SIGTERM to the node's group (the raylet, its workers, the GCS of a head), SIGKILL if it lingers."""
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # workers the raylet started may outlive it for a moment: the group goes as a whole
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class LocalRayCluster:
    """A head (no CPUs of its own) and `workers` worker nodes of `cpus_per_worker` CPUs each."""

    def __init__(self, workers: int = 1, cpus_per_worker: int = 1, *, extra_env: dict | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must stay < 108 bytes
        # No token authentication: a token left in ~/.ray (any local `ray.init()` writes one) would turn
        # it on for some processes and not others. The driver (this process) must say the same.
        os.environ["RAY_AUTH_MODE"] = "disabled"
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(extra_env or {})}
        self.env.pop("RAY_ADDRESS", None)
        self.port, *head_ports = _free_ports(2 + NODE_PORTS)
        self.client_port = head_ports[0]  # the head's Ray Client server (`ray://`, as compose uses)
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--temp-dir={self.dir}"]
        self.head = RayNode(
            [
                "--head",
                f"--port={self.port}",
                "--num-cpus=0",
                "--include-dashboard=false",
                f"--ray-client-server-port={head_ports[0]}",
                *self._node_ports(head_ports[1:]),
                *common,
            ],
            self.dir / "head.log",
            self.env,
        )
        self.common = common
        self.cpus_per_worker = cpus_per_worker
        self.workers: list[RayNode] = []
        try:
            for _ in range(workers):
                self.add_worker()
        except Exception:
            self.stop()
            raise

    @staticmethod
    def _node_ports(ports: list[int]) -> list[str]:
        node, objects, agent, agent_grpc, runtime_env, metrics, *workers = ports
        return [
            f"--node-manager-port={node}",
            f"--object-manager-port={objects}",
            f"--dashboard-agent-listen-port={agent}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env}",
            f"--metrics-export-port={metrics}",
            # Worker processes get ports chosen free like the rest (not the default 10002-19999 range,
            # shared with other clusters on the machine, nor a range that could hold a port chosen above).
            f"--worker-port-list={','.join(map(str, workers))}",
        ]

    @property
    def address(self) -> str:
        """The address a driver gives `ray.init` (and FOUNDATION_RAY_ADDRESS)."""
        return f"127.0.0.1:{self.port}"

    @property
    def client_address(self) -> str:
        """The same cluster through Ray Client: a driver on a machine that is not a Ray node."""
        return f"ray://127.0.0.1:{self.client_port}"

    def add_worker(self) -> RayNode:
        """Start one more worker node and wait until it has joined."""
        node = RayNode(
            [
                f"--address={self.address}",
                f"--num-cpus={self.cpus_per_worker}",
                *self._node_ports(_free_ports(NODE_PORTS)),
                *self.common,
            ],
            self.dir / f"worker-{len(self.workers)}.log",
            self.env,
        )
        self.workers.append(node)
        return node

    def stop(self) -> None:
        """Stop every node (workers first), then remove the temp dir."""
        import shutil

        for node in [*self.workers, self.head]:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    """A local Ray cluster shared by the session: a head and one worker node of 2 CPUs."""
    cluster = LocalRayCluster(workers=1, cpus_per_worker=2)
    try:
        yield cluster
    finally:
        import ray

        ray.shutdown()  # this process's driver first: the nodes then stop without waiting for it
        cluster.stop()
