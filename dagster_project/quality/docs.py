"""Great Expectations Data Docs: a batch's results as GX's own validation page (HTML), rendered lazily.

A run only saves what the page needs (`save_data_docs`: the suite, the results, the run's id, time and
table, as JSON next to where the page will be); the docs server renders the HTML the first time the page
is requested (`render_data_docs`) and serves the file after that. Importing Great Expectations costs
seconds of CPU, which a landing run no longer pays.

The page is GX's, with a few of GX's templates replaced by ours (`data_docs_templates/`) so that its
stylesheets, scripts and images load from the docs server instead of CDNs: it renders offline.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the docs server imports this module: not the gate's DuckDB and Iceberg
    from dagster_project.quality.gate import GateReport

TEMPLATES_DIR = Path(__file__).resolve().parent / "data_docs_templates"
SOURCE_SUFFIX = ".json"  # a page's source: `<table>/<run id>.json` beside `<table>/<run id>.html`
LATEST = "latest"

# One render at a time per process: the server is threaded and two requests for a new page would
# otherwise both render it (and both pay GX's import).
_render_lock = threading.Lock()


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


def _json_value(value: Any) -> Any:
    # Observed values come from DuckDB: dates and decimals are what JSON lacks (GX shows them as text).
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _write_atomically(path: Path, text: str) -> None:
    # The docs server may read the file while it is written: it sees the old one or the new one.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def save_data_docs(report: GateReport, *, table: str, run_id: str, run_time: datetime, out_dir: Path) -> Path:
    """Save what the Data Docs page of one gate run needs; returns the page (HTML) it will be.

    The page itself is rendered on its first request (`render_data_docs`, by the docs server); the
    table's `latest` page follows the last saved run. No Great Expectations import here.
    """
    source = {
        "table": table,
        "run_id": run_id,
        "run_time": run_time.isoformat(),
        "suite": json.loads(report.suite.path.read_text(encoding="utf-8")),  # as the run used it
        "suite_name": report.suite.name,
        "success": not report.failed,
        "branch": report.branch,
        "results": [
            {"index": r.expectation.index, "success": r.success, "result": r.as_gx_result()}
            for r in sorted(report.results, key=lambda r: r.expectation.index)
        ],
    }
    text = json.dumps(source, default=_json_value)
    folder = out_dir / table
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / f"{run_id}{SOURCE_SUFFIX}", text)
    _write_atomically(folder / f"{LATEST}{SOURCE_SUFFIX}", text)
    return folder / f"{run_id}.html"


def render_data_docs(page: Path) -> bool:
    """Render `page` (`<table>/<run id or latest>.html`) from its saved source if it is missing or stale.

    The page takes its source's modification time, so a `latest` source saved again by a newer run
    (even while this one renders) makes the page stale. A page without a source is left alone.

    Returns:
        True when the page was (re)rendered.
    """
    source = page.with_suffix(SOURCE_SUFFIX)
    with _render_lock:
        try:
            saved = source.stat()
        except FileNotFoundError:
            return False
        if page.exists() and page.stat().st_mtime_ns == saved.st_mtime_ns:
            return False
        html = render_page(json.loads(source.read_text(encoding="utf-8")))
        _write_atomically(page, html)
        os.utime(page, ns=(saved.st_atime_ns, saved.st_mtime_ns))
        return True


def render_page(source: dict[str, Any]) -> str:
    """GX's validation-results page (HTML) of a saved source (see `save_data_docs`).

    Great Expectations is imported here, by the docs server only: it takes seconds to import.
    """
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    # The suite goes through GX's own models in an ephemeral context (no state on disk).
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(**source["suite"]))
    results = [
        ExpectationValidationResult(
            success=r["success"],
            expectation_config=suite.expectations[r["index"]].configuration,
            result=r["result"],
        )
        for r in source["results"]
    ]
    passed = sum(r["success"] for r in source["results"])
    run_id = source["run_id"]
    validation = ExpectationSuiteValidationResult(
        success=source["success"],
        results=results,
        suite_name=source["suite_name"],
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else 100.0,
        },
        meta={
            "run_id": {"run_name": run_id, "run_time": source["run_time"]},
            "active_batch_definition": {
                "datasource_name": "foundation",
                "data_connector_name": "audit_branch" if source["branch"] else "staged",
                "data_asset_name": source["table"],
                "batch_identifiers": {"run_id": run_id},
            },
        },
    )
    return page_view().render(ValidationResultsPageRenderer().render(validation))
