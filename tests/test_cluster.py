"""The Ray cluster of FOUNDATION_RAY_ADDRESS: a real local cluster (tests/servers/ray_cluster.py)."""

from __future__ import annotations

import os

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


def test_a_lost_connection_never_starts_a_local_ray_instance(tmp_path) -> None:
    """Ray's auto-init is off in a process that connects: a Ray call after the connection is lost
    fails instead of starting a local instance (which also wrote ~/.ray/auth_token for the user)."""
    import subprocess
    import sys

    code = (
        "from dagster_project.cluster import connected\n"
        "from dagster_project.errors import EnvironmentFailure\n"
        "from dagster_project.settings import Settings\n"
        f"settings = Settings.for_data_dir({str(tmp_path)!r}, ray_address='127.0.0.1:9')\n"
        "try:\n"
        "    with connected(settings):\n"
        "        pass\n"
        "except EnvironmentFailure:\n"
        "    pass\n"
        "from ray._private import auto_init_hook\n"
        "print(auto_init_hook.enable_auto_connect)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_AUTO_CONNECT"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
