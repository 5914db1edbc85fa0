"""Shared file plumbing for the sample generator: the GeneratedFile record and atomic writers."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GeneratedFile:
    """One file written into the landing zone.

    Attributes:
        path: Absolute path of the file.
        dataset: "orders", "customers", "products", "support_tickets" or "documents".
        rows: Data rows written, header excluded, duplicates included (documents: 1).
        note: Comma-separated tags naming the dirt the file carries, "" when clean. Tabular tags:
            "duplicates", "nulls", "out_of_range", "later_versions", "schema_drift", "malformed",
            "bad_batch". Document tags: "duplicate_document", "near_duplicate", "pii",
            "metadata_sidecar".
    """

    path: Path
    dataset: str
    rows: int
    note: str = ""


def write_bytes(path: Path, data: bytes) -> None:
    """Write data to path atomically, creating parent directories.

    Args:
        path: Destination file; an existing file of that name is replaced.
        data: The complete file content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden temp name outside every landing glob, then a rename: a landing sensor polling
    # the directory never sees a half-written file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """Render rows as RFC 4180 CSV with a header line, "\\n" line ends and None as an empty field.

    Args:
        header: Column names.
        rows: Row values; None becomes an empty (NULL) field.

    Returns:
        The UTF-8 encoded CSV text.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=",", quotechar='"', lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    """Render records as JSON lines, keys in insertion order, UTF-8 kept readable.

    Args:
        records: One dict per line.

    Returns:
        The UTF-8 encoded JSON lines text, each line ending in "\\n".
    """
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
