"""The Ray cluster of FOUNDATION_RAY_ADDRESS: a real local cluster (tests/servers/ray_cluster.py)."""

from __future__ import annotations

import pytest

from dagster_project.cluster import cluster_address, connected
from dagster_project.errors import EnvironmentFailure
from dagster_project.settings import Settings
from tests.servers.ray_cluster import LocalRayCluster

pytestmark = pytest.mark.slow


def test_no_address_is_the_in_process_path(settings: Settings) -> None:
    assert cluster_address(settings) is None
    with pytest.raises(EnvironmentFailure, match="FOUNDATION_RAY_ADDRESS"), connected(settings):
        pass


def test_a_driver_connects_and_its_tasks_run_on_the_worker_node(
    settings: Settings, ray_cluster: LocalRayCluster
) -> None:
    import os

    import ray

    on_cluster = Settings.for_data_dir(settings.data_dir, ray_address=ray_cluster.address)
    with connected(on_cluster) as info:
        assert info.nodes == 2  # the head and one worker node
        assert info.cpus == 2  # the head runs no tasks

        @ray.remote
        def where() -> int:
            return os.getpid()

        pids = set(ray.get([where.remote() for _ in range(4)]))
    assert os.getpid() not in pids
