"""Great Expectations Data Docs: renders a batch's results as GX's own validation page (HTML).

The page is GX's, with a few of GX's templates replaced by ours (`data_docs_templates/`) so that its
stylesheets, scripts and images load from the docs server instead of CDNs: it renders offline.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_project.quality.gate import GateReport

TEMPLATES_DIR = Path(__file__).resolve().parent / "data_docs_templates"


def page_view() -> Any:
    """GX's page view, reading our templates before its own (same names: ours win).

    GX's `custom_views_directory` is consulted after GX's own templates, so it can add templates but
    not replace them; the view's Jinja environment takes a loader in front instead (jinja2's API).
    """
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, FileSystemLoader

    view = DefaultJinjaPageView()
    view.env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES_DIR), view.env.loader])
    return view


def write_data_docs(
    report: GateReport, *, table: str, run_id: str, run_time: datetime, out_dir: Path
) -> Path:
    """Write the GX validation-results page of one gate run; returns the HTML file.

    Great Expectations is imported here, at run time only: it takes seconds to import.
    """
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    # The suite file goes through GX's own models in an ephemeral context (no state on disk).
    context = gx.get_context(mode="ephemeral")
    document = json.loads(report.suite.path.read_text(encoding="utf-8"))
    suite = context.suites.add(gx.ExpectationSuite(**document))
    results = [
        ExpectationValidationResult(
            success=r.success,
            expectation_config=suite.expectations[r.expectation.index].configuration,
            result=r.as_gx_result(),
        )
        for r in sorted(report.results, key=lambda r: r.expectation.index)
    ]
    passed = sum(r.success for r in report.results)
    validation = ExpectationSuiteValidationResult(
        success=not report.failed,
        results=results,
        suite_name=report.suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else 100.0,
        },
        meta={
            "run_id": {"run_name": run_id, "run_time": run_time.isoformat()},
            "active_batch_definition": {
                "datasource_name": "foundation",
                "data_connector_name": "audit_branch" if report.branch else "staged",
                "data_asset_name": table,
                "batch_identifiers": {"run_id": run_id},
            },
        },
    )
    html = page_view().render(ValidationResultsPageRenderer().render(validation))
    target = out_dir / table / f"{run_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    (out_dir / table / "latest.html").write_text(html, encoding="utf-8")
    return target
