"""Asset checks of raw assets: one blocking check per `fail` expectation of the table's suite."""

from __future__ import annotations

import dagster as dg

from dagster_project.quality.engine import ExpectationResult
from dagster_project.quality.gate import GateReport
from dagster_project.quality.suites import Expectation, Suite

SEVERITY = {
    "fail": dg.AssetCheckSeverity.ERROR,
    "warn": dg.AssetCheckSeverity.WARN,
    "drop": dg.AssetCheckSeverity.WARN,
}


def _describe(e: Expectation) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in e.kwargs.items() if k != "description")
    what = {"fail": "holds the batch back", "warn": "is recorded only", "drop": "drops the rejected rows"}
    text = f"{e.type}({kwargs}). Failing {what[e.action]}."
    return f"{e.description} {text}".strip() if e.description else text


def check_specs(asset: dg.AssetKey, suite: Suite | None) -> list[dg.AssetCheckSpec]:
    """Check specs generated from the suite (none when the table has no suite)."""
    if suite is None:
        return []
    return [
        dg.AssetCheckSpec(
            name=e.name,
            asset=asset,
            description=_describe(e),
            blocking=e.action == "fail",
            metadata={
                "suite": suite.file,
                "action": e.action,
                "dimension": e.dimension or "",
                "type": e.type,
            },
        )
        for e in suite.expectations
    ]


def _sample_text(value: object) -> str:
    """One unexpected value as shown in the UI; a composite key's as `a=1, b=2`."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _metadata(result: ExpectationResult, suite: Suite, docs: str | None) -> dict[str, object]:
    e = result.expectation
    metadata: dict[str, object] = {
        "success": result.success,
        "action": e.action,
        "expectation": e.type,
        "kwargs": dg.MetadataValue.json({k: str(v) for k, v in e.kwargs.items()}),
        "suite": suite.file,
        "element_count": result.element_count,
    }
    if result.observed_value is not None:
        metadata["observed_value"] = str(result.observed_value)
    if result.unexpected_count is not None:
        metadata["unexpected_count"] = result.unexpected_count
        metadata["unexpected_percent"] = float(result.unexpected_percent or 0.0)
        metadata["partial_unexpected_list"] = dg.MetadataValue.json(
            [_sample_text(v) for v in result.partial_unexpected_list]
        )
    if e.action == "drop":
        metadata["rows_dropped"] = result.dropped
    if docs is not None:
        metadata["data_docs"] = dg.MetadataValue.url(docs)
    return metadata


def check_results(
    suite: Suite | None, gate: GateReport | None, docs: str | None, asset_key: dg.AssetKey | None = None
) -> list[dg.AssetCheckResult]:
    """One result per expectation the gate evaluated in this run, and none for the others.

    A run with no new batch evaluated nothing: it yields no result, so each check keeps its last real
    evaluation (Dagster shows the run's planned check as skipped, and the asset's health reads the
    latest completed evaluation). A result is never made up for an expectation that was not run.

    `asset_key` names the asset when the checks belong to one asset of several (the dbt models).
    """
    if suite is None or gate is None:
        return []
    by_name = {r.expectation.name: r for r in gate.results}
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=e.name,
            passed=result.success,
            severity=SEVERITY[e.action],
            metadata=_metadata(result, suite, docs),
            description=None if result.success else f"{e.name} failed ({e.action})",
        )
        for e in suite.expectations
        if (result := by_name.get(e.name)) is not None
    ]
