"""Awaiting the filesystem's clock: file times are stamped from a coarse clock (a kernel tick)."""

from pathlib import Path


def await_file_clock_past(ns: int, folder: Path) -> None:
    """Wait until the clock that stamps file times passes `ns`, creating a probe file until it does.

    Two writes within one tick of that clock can share a ctime, so a test of ctime-based versions
    awaits the next tick (an event, at most a few milliseconds away) instead of sleeping.
    """
    probe = folder / ".clock-probe"
    try:
        while True:
            probe.unlink(missing_ok=True)
            probe.write_bytes(b"")  # a new file: its ctime is the clock's now
            if probe.stat().st_ctime_ns > ns:
                return
    finally:
        probe.unlink(missing_ok=True)
