"""What `sources add` infers about a source: the declaration it writes, and what it noticed on the way.

Apart from `infer.py` (which fills it) so that `keys.py`, which infer.py calls, can read it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster_project.onboard.landed import Dialect
from dagster_project.onboard.profile import ColumnProfile


@dataclass
class Inferred:
    """Everything `sources add` declares about a source, and what it noticed on the way."""

    prefix: str
    format: str
    files: list[str]
    rows: int
    columns: list[ColumnProfile]
    primary_key: list[str]
    partition_column: str | None = None
    encoding: str = "utf-8"
    compression: str | None = None  # None: none, or the files' suffixes say it ("auto")
    dialect: Dialect = field(default_factory=Dialect)
    null_markers: list[str] = field(default_factory=lambda: [""])
    decimal_comma: bool = False
    date_format: str | None = None
    timestamp_format: str | None = None
    naive_timestamps: bool = False
    flatten: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def glob(self) -> str:
        """The files' common suffix (`*.tsv`), past a compression suffix (the registry matches those)."""
        suffixes = set()
        for key in self.files:
            name = key.rsplit("/", 1)[-1].lower()
            for compressed in (".gz", ".zst", ".bz2"):
                name = name.removesuffix(compressed)
            suffixes.add(name[name.rfind(".") :] if "." in name else "")
        suffix = suffixes.pop() if len(suffixes) == 1 else ""
        return f"*{suffix}" if suffix else "*"
