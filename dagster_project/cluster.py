"""The Ray cluster that runs the heavy steps when `FOUNDATION_RAY_ADDRESS` is set (README "Scaling out").

Unset, every step runs in the run's own process, as it always has. Set, the driver (the Dagster run)
connects to the cluster, hands out the heavy work (files converted, documents extracted, chunks
embedded) and keeps the commits: one Iceberg commit per batch, made by the driver, so exactly-once,
quarantine and Write-Audit-Publish are the same on both paths.

Ray is imported only here and only when a cluster is used: definitions and quick commands never pay
for it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dagster_project.errors import EnvironmentFailure
from dagster_project.settings import Settings

NAMESPACE = "foundation"
REACH_TIMEOUT_S = 5.0  # ray.init retries an unreachable head for minutes; a closed port is known at once
_lock = threading.Lock()
_connected_to: str | None = None  # the address this process's Ray connection was made to


@dataclass(frozen=True)
class ClusterInfo:
    """What a run says about the cluster it used (logs, asset metadata)."""

    address: str
    nodes: int
    cpus: float
    gpus: float

    def describe(self) -> str:
        return (
            f"Ray cluster at {self.address}: {self.nodes} node(s), {self.cpus:g} CPU(s), {self.gpus:g} GPU(s)"
        )


def cluster_address(settings: Settings) -> str | None:
    """The cluster to use, or None for the in-process path."""
    return settings.ray_address or None


@contextmanager
def connected(settings: Settings, log: logging.Logger | None = None) -> Iterator[ClusterInfo]:
    """Connect this process to the configured Ray cluster for the duration of the block.

    A process connects once; nested or later blocks reuse the connection (Ray allows one per process).
    Settings naming another cluster than the one connected to end that connection first.

    Raises:
        EnvironmentFailure: No address is configured, or the cluster cannot be reached (the run is
            retried, never a file quarantined for it).
    """
    address = cluster_address(settings)
    if address is None:
        raise EnvironmentFailure("no Ray cluster configured: set FOUNDATION_RAY_ADDRESS")
    log = log or logging.getLogger(__name__)
    # A Ray call after the connection is lost would otherwise start a local Ray instance in this
    # process (Ray's auto-init, read when ray is first imported): it fails, hides why, and writes
    # ~/.ray/auth_token, which turns token authentication on for every later `ray start` of the user.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    import ray

    global _connected_to
    with _lock:
        if ray.is_initialized() and _connected_to != address:
            ray.shutdown()
        if not ray.is_initialized():
            _reachable(address)
            try:
                ray.init(
                    address=address,
                    namespace=NAMESPACE,
                    log_to_driver=False,  # task output stays in the cluster's logs; progress comes from us
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, TimeoutError) as exc:
                raise EnvironmentFailure(
                    f"Ray cluster at {address} cannot be reached ({exc}); check FOUNDATION_RAY_ADDRESS "
                    "and that the head node is up"
                ) from exc
            _connected_to = address
    info = describe(address)
    log.info("%s", info.describe())
    if not info.cpus:  # e.g. a head of no CPUs whose workers have not joined (or scale from zero)
        log.warning("%s has no CPUs now: its tasks wait until a worker node joins", address)
    yield info


def _reachable(address: str) -> None:
    """Fail fast when nothing answers at the head's `host:port` (`ray.init` would wait for minutes).

    Raises:
        EnvironmentFailure: The port cannot be connected to.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # e.g. "auto": Ray finds the cluster itself
        return
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise EnvironmentFailure(
            f"Ray cluster at {address} cannot be reached ({exc}); check FOUNDATION_RAY_ADDRESS "
            "and that the head node is up"
        ) from exc


def describe(address: str) -> ClusterInfo:
    """The connected cluster's live nodes and resources."""
    import ray

    resources: dict[str, Any] = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return ClusterInfo(address, nodes, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))
