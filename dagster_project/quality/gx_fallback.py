"""Expectations we do not compile, run by Great Expectations' own pandas engine on the batch.

Importing GX takes seconds and the batch must be read into pandas (memory: `make bench-gates`
measures it), so this runs only when a suite holds such an expectation, once per evaluation
for all of them. GX is imported here, never when the definitions load.
"""

from __future__ import annotations

import functools
from typing import Any

import duckdb
from sqlglot import exp

from dagster_project.quality.compile import Outcome, ident
from dagster_project.quality.compile import relation as batch_relation
from dagster_project.quality.suites import Expectation
from dagster_project.quality.types import to_pandas

_ASSET = "batch"
_LEFT_OUT = {"element_count", "partial_unexpected_counts", "partial_unexpected_index_list", "unexpected_list"}


@functools.cache
def _batch_definition():
    """One ephemeral GX context per process, with a pandas DataFrame asset."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in run logs
    asset = context.data_sources.add_pandas("foundation").add_dataframe_asset(_ASSET)
    return asset.add_batch_definition_whole_dataframe(_ASSET)


def _outcome(result) -> Outcome:
    """Our outcome from GX's ExpectationValidationResult (its exception as a failure)."""
    body = dict(result.result or {})
    if result.exception_info and result.exception_info.get("raised_exception"):
        # GX's own words about the expectation; they describe kwargs, not row values.
        body["exception"] = result.exception_info.get("exception_message")
    return Outcome(
        success=bool(result.success),
        observed_value=body.pop("observed_value", None),
        unexpected_count=body.pop("unexpected_count", None),
        unexpected_percent=body.pop("unexpected_percent", None),
        # Value counts and row indexes stay out: values are masked by the caller, and only there.
        details={k: v for k, v in body.items() if k not in _LEFT_OUT},
    )


def validate(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: list[str],
    expectations: list[Expectation],
    parameters: dict[str, Any],
) -> list[Outcome]:
    """GX's results for `expectations` on the batch `relation` (its data columns only)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    query = exp.select(*(ident(c) for c in columns)).from_(batch_relation(relation))
    frame = to_pandas(con.execute(query.sql("duckdb")).to_arrow_table())
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    outcomes = []
    for e in expectations:
        expectation = ExpectationConfiguration(type=e.type, kwargs=e.kwargs).to_domain_obj()
        outcomes.append(_outcome(batch.validate(expectation, expectation_parameters=parameters)))
    return outcomes
