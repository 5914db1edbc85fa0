"""`make dev`: the docs server next to `dagster dev`, stopped when dagster dev stops.

Run as `python -m dagster_project.docs_site.dev <dagster dev arguments>`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from dagster_project.docs_site.server import serving
from dagster_project.errors import FoundationError
from dagster_project.settings import load_settings


def run_dev(argv: list[str]) -> int:
    """Start the docs server in a thread, run `dagster dev <argv>` as a child; its exit code.

    Ctrl-C in a terminal reaches the whole foreground process group: dagster dev receives it itself
    and shuts down its webserver, daemon and code servers; this process only waits for that, and the
    docs server stops with it. A SIGTERM sent to this process alone is passed on to dagster dev.
    """
    settings = load_settings()
    dagster = Path(sys.executable).parent / "dagster"
    with serving(settings) as server:
        port = server.server_address[1]
        print(f"docs server (cards, Data Docs) on http://127.0.0.1:{port}/", flush=True)
        child = subprocess.Popen([str(dagster), "dev", *argv])
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        return child.wait()


def main() -> int:
    """Entry point; a taken docs port is reported in one line before dagster dev starts."""
    try:
        return run_dev(sys.argv[1:])
    except FoundationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
