"""The starter suite of a new source, profiled from its landed rows: each expectation marked for review.

Keys are not null and unique within each landed file (a composite key through GX's compound
uniqueness where the quality engine supports it, else an `unexpected_rows_expectation`); numeric
columns stay within the landed range plus a margin; text columns with a few repeated values stay
within that set. Everything but the keys' completeness warns: a profile of a few files is a guess,
not a contract. A key of every column (no column set was unique) expects nothing: its parts may be
null, and exact repeats are dropped in staging.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from dagster_project.onboard.inferred import Inferred
from dagster_project.onboard.profile import ColumnProfile
from dagster_project.quality.suites import SUPPORTED

GX_VERSION = "1.24.1"
MARGIN = Decimal("0.1")  # a tenth of the landed range (or of the value when all are equal) either side
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"


def _meta(action: str, dimension: str, notes: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "dimension": dimension, **extra, "notes": f"TODO review: {notes}"}


def _bound(value: Decimal, profile: ColumnProfile) -> int | float:
    if profile.type in ("int", "long"):
        return int(value)
    return float(round(value, 6))


def _range(profile: ColumnProfile) -> dict[str, Any] | None:
    low, high = profile.minimum, profile.maximum
    if low is None or high is None or not (low.is_finite() and high.is_finite()):
        return None
    margin = (high - low) * MARGIN or abs(high) * MARGIN or Decimal(1)
    floor = low - margin
    if low >= 0 > floor:  # never-negative measures stay never negative
        floor = Decimal(0)
    kwargs: dict[str, Any] = {
        "column": profile.name,
        "min_value": _bound(
            Decimal(math.floor(floor)) if profile.type in ("int", "long") else floor, profile
        ),
        "max_value": _bound(
            Decimal(math.ceil(high + margin)) if profile.type in ("int", "long") else high + margin, profile
        ),
    }
    return kwargs


def starter_suite(inferred: Inferred) -> dict[str, Any]:
    """The GX 1.x suite `raw.<name>` for an inferred source (name filled in by the caller)."""
    seen = f"{inferred.rows} row(s) in {len(inferred.files)} file(s)"
    files = (
        "the landed file" if len(inferred.files) == 1 else f"each of the {len(inferred.files)} landed files"
    )
    key = inferred.primary_key
    # Every column as the key: no column set is unique, nulls are values; nothing to expect of it.
    identity = len(inferred.columns) > 1 and set(key) == {c.name for c in inferred.columns}
    expectations: list[dict[str, Any]] = [
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1},
            "meta": _meta("fail", "completeness", "an empty batch is a broken export."),
        }
    ]
    for column in () if identity else key:
        expectations.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": column},
                "meta": _meta("fail", "completeness", f"part of the primary key; never null in {seen}."),
            }
        )
    again = "re-deliveries repeat a key; staging keeps its latest version. Use 'fail' if keys never repeat."
    if identity:
        pass
    elif len(key) == 1:
        expectations.append(
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": key[0]},
                "meta": _meta("warn", "uniqueness", f"unique within {files} ({seen}); {again}"),
            }
        )
    elif COMPOUND_UNIQUE in SUPPORTED:
        expectations.append(
            {
                "type": COMPOUND_UNIQUE,
                "kwargs": {"column_list": list(key)},
                "meta": _meta("warn", "uniqueness", f"unique together within {files} ({seen}); {again}"),
            }
        )
    else:
        partition = ", ".join(f'"{c}"' for c in key)
        expectations.append(
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {
                    "unexpected_rows_query": (
                        f"select * from {{batch}} qualify count(*) over (partition by {partition}) > 1"
                    ),
                    "description": f"({', '.join(key)}) is unique in the batch.",
                },
                "meta": _meta(
                    "warn",
                    "uniqueness",
                    f"unique together within {files} ({seen}); {again}",
                    name=f"{'_'.join(key)}_unique",
                ),
            }
        )
    for profile in inferred.columns:
        if (profile.name in key and not identity) or profile.pii:
            continue
        if profile.type in ("int", "long", "float", "double") or profile.type.startswith("decimal"):
            kwargs = _range(profile)
            if kwargs:
                expectations.append(
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": kwargs,
                        "meta": _meta("warn", "validity", f"landed range in {seen}, plus a margin."),
                    }
                )
        elif (
            profile.type == "string"
            and profile.values
            and not profile.many_values
            and profile.count >= 2 * len(profile.values)
        ):
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": profile.name, "value_set": sorted(profile.values)},
                    "meta": _meta("warn", "validity", f"every value seen in {seen}; add the ones to come."),
                }
            )
    return {"name": "", "expectations": expectations, "meta": {"great_expectations_version": GX_VERSION}}


def render_suite(name: str, inferred: Inferred) -> str:
    """The suite file's text for `raw.<name>`."""
    suite = starter_suite(inferred)
    suite["name"] = f"raw.{name}"
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"
