"""A copy of the repository to run a user's commands in: they edit its registry, suites and dbt project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_project.settings import PROJECT_DIR

_NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".data", ".git", "target", "logs", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"
)


@dataclass(frozen=True)
class Checkout:
    """The copy's root; `run` executes a shell command line there as a user would."""

    root: Path

    def run(self, command: str, timeout: int = 900) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "DAGSTER_"))}
        # The copy's package, not the editable install's: the commands edit the copy's files.
        env.update(PYTHONPATH=str(self.root), CI="true", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def landing(self, key: str) -> Path:
        path = self.root / ".data" / "landing" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    """The repository's files (not .data, .venv, build output) with this environment as its `.venv`."""
    root = tmp_path / "checkout"
    shutil.copytree(PROJECT_DIR, root, ignore=_NOT_COPIED, symlinks=True)
    (root / ".venv").symlink_to(Path(sys.prefix))
    return Checkout(root)
