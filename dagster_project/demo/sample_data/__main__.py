"""Command line: write the sample landing zone: `python -m dagster_project.demo.sample_data --out DIR`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .generator import generate


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample landing zone and print one line per file plus a total.

    Args:
        argv: Command-line arguments without the program name; defaults to sys.argv[1:].

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.demo.sample_data",
        description="Write a deterministic, deliberately dirty sample landing zone.",
    )
    parser.add_argument("--out", type=Path, required=True, help="landing zone root directory")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--scale", type=float, default=1.0, help="row count multiplier (default 1.0)")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be > 0")

    started = time.perf_counter()
    files = generate(args.out, seed=args.seed, scale=args.scale)
    root = args.out.resolve()
    total_bytes = 0
    for f in files:
        size = f.path.stat().st_size
        total_bytes += size
        note = f"  [{f.note}]" if f.note else ""
        print(f"{f.path.relative_to(root)!s:<52} {f.rows:>7} rows {size:>10,} bytes{note}")
    elapsed = time.perf_counter() - started
    print(
        f"total: {len(files)} files, {sum(f.rows for f in files):,} rows, {total_bytes:,} bytes "
        f"in {root} ({elapsed:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
