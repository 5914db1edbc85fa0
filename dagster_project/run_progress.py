"""Progress of a run executed in this process (`foundation ingest`, `make demo`), as it is logged.

Such runs log to the console at CRITICAL only: their callers print one line per file when the run
ends. A batch of many files would then be silent until its end, so a run logger of its own hands
the ingest's progress lines (`[k/n] …`, about every tenth of a batch) to the caller as they come.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import dagster as dg

# The ingest's progress lines (`ingest/engine.py`, `ingest/on_ray.py`): `[k/n] …`.
PROGRESS_LINE = re.compile(r"^\[\d+/\d+\] ")
# Batches up to this size log a line per file, which the caller's own line per file repeats.
QUIET_UP_TO_FILES = 20
LOGGER = "foundation_progress"


class _Lines(logging.Handler):
    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.on_line = on_line

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        message = str(meta.get("orig_message") or record.getMessage())
        if PROGRESS_LINE.match(message):
            self.on_line(message)


def with_progress(
    job: dg.JobDefinition, run_config: dict, files: int, on_line: Callable[[str], None] | None
) -> tuple[dg.JobDefinition, dict]:
    """`job` and `run_config` with a logger that calls `on_line` with each progress line of the run,
    for a batch of more than `QUIET_UP_TO_FILES` files; unchanged otherwise."""
    if on_line is None or files <= QUIET_UP_TO_FILES:
        return job, run_config

    def make(_init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger(LOGGER, logging.INFO)  # not registered: one per run, nothing global
        logger.addHandler(_Lines(on_line))
        return logger

    job = job.with_logger_defs({**job.loggers, LOGGER: dg.LoggerDefinition(make)})
    return job, {**run_config, "loggers": {**run_config.get("loggers", {}), LOGGER: {}}}
