"""Dagster's view of runs, for the write paths that clean up after runs that stopped."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg


def dagster_run_alive(instance: dg.DagsterInstance) -> Callable[[str], bool | None]:
    """Whether a Dagster run may still be auditing (see `lakehouse.held.recover_unfinished`).

    A finished run is certainly not auditing: False. A run Dagster still shows as started may
    have died without saying so (a killed process), so that answer is None, unknown, and the
    branch's owner process and age decide.
    """

    def alive(run_id: str) -> bool | None:
        run = instance.get_run_by_id(run_id)
        return False if run is not None and run.is_finished else None

    return alive
