"""A write path in a child process that kills itself (SIGKILL) at a named crash point.

Run as `python -m tests.crash_child '<json spec>'` from the repository root; `run_child` does
that. The spec names the job (`ingest`, `sync` or `build`), its arguments, and either a crash
point of `dagster_project.faults` or a function to replace with a kill (`patch`, for code that
has no crash points). Without a crash the job's outcome is written to `out` (if given) and the
process exits 0, so a test can tell a kill that never happened.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]


def run_child(spec: dict[str, Any], *, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    """Start the child with this spec; wait for it (the default) or return the running process."""
    args = [sys.executable, "-m", "tests.crash_child", json.dumps(spec, default=str)]
    if not wait:
        return subprocess.Popen(
            args, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(args, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)


def _die(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(target: str, after: bool) -> None:
    """Replace `module:function` (or `module:Class.method`) with a kill, after the original when `after`."""
    module_name, name = target.split(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    def killed(*args: object, **kwargs: object) -> object:
        if after:
            original(*args, **kwargs)
        _die()

    setattr(owner, name, killed)


def _settings(spec: dict[str, Any]):
    from dagster_project.settings import Settings

    overrides = {
        k: Path(v) if k.endswith(("_dir", "_file")) else v for k, v in spec.get("settings", {}).items()
    }
    return Settings.for_data_dir(Path(spec["data_dir"]), sensor_min_file_age_seconds=0, **overrides)


def _ingest(spec: dict[str, Any], settings) -> dict[str, Any]:
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from tests.ingest.test_crash_points import suite_of

    dataset = load_registry(settings.sources_file)[spec["dataset"]]
    suite = suite_of(settings, dataset)
    report = ingest_dataset(
        settings,
        dataset,
        run_id=spec["run_id"],
        keys=spec.get("keys"),
        suite=suite if spec.get("gate", True) else None,
    )
    return {
        "rows": report.rows,
        "skipped": report.skipped,
        "held_back": report.held_back,
        "dropped": len(report.gate.dropped) if report.gate else 0,
    }


def _sync(spec: dict[str, Any], settings) -> dict[str, Any]:
    from dagster_project.documents.config import load_documents_config
    from dagster_project.documents.embed import load_embedder
    from dagster_project.documents.sync import sync_documents
    from tests.documents.test_crash_points import chunk_suite

    report = sync_documents(
        settings,
        load_documents_config(settings.documents_file),
        load_embedder(settings.embedder),
        run_id=spec["run_id"],
        suite=chunk_suite(settings),
    )
    return {"chunks_added": report.chunks_added, "held_back": bool(report.gate and report.gate.held_back)}


def _build(spec: dict[str, Any], settings) -> dict[str, Any]:
    import dagster as dg

    from dagster_project.catch_up import build_models

    success, models = build_models(settings, dg.DagsterInstance.ephemeral())
    return {"success": success, "models": {m.table: m.gate for m in models}}


JOBS = {"ingest": _ingest, "sync": _sync, "build": _build}
# Imported before waiting at a barrier, so that siblings really start their work together.
PRELOAD = {
    "ingest": ("dagster_project.ingest.run", "tests.ingest.test_crash_points"),
    "sync": ("dagster_project.documents.sync", "tests.documents.test_crash_points"),
    "build": ("dagster_project.catch_up",),
}


def main(raw: str) -> None:
    spec = json.loads(raw)
    settings = _settings(spec)
    if spec.get("point"):
        from dagster_project import faults

        faults.install(lambda point: _die() if point == spec["point"] else None)
    if spec.get("patch"):
        _patch(spec["patch"], spec.get("patch_after", False))
    for module in PRELOAD[spec["job"]]:
        importlib.import_module(module)
    if spec.get("barrier"):  # start together with a sibling (concurrency tests)
        barrier = Path(spec["barrier"])
        while not barrier.exists():
            time.sleep(0.005)
    outcome = JOBS[spec["job"]](spec, settings)
    if spec.get("out"):
        Path(spec["out"]).write_text(json.dumps(outcome, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
