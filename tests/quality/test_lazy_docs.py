"""Data Docs off the run path: a raw run saves the page's source, the docs server renders it when opened."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

from dagster_project.docs_site.server import serving
from tests.conftest import customers_csv, land
from tests.docs_site.test_server import fetch

# One raw run in a fresh process, as a run worker does: what it imported and the Data Docs link it gave.
RAW_RUN = """
import json, sys
from pathlib import Path
import dagster as dg
from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.resources import Foundation
from dagster_project.registry import load_registry
from dagster_project.settings import Settings

settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
key = dg.AssetKey(["raw", "customers"])
(asset,) = [a for a in build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
            if a.key == key]
resources = {"foundation": Foundation.from_settings(settings)}
result = dg.materialize([asset], resources=resources, selection=[key])
(event,) = result.get_asset_materialization_events()
links = [event.materialization.metadata["data_docs"].value]
print(json.dumps({"success": result.success, "run_id": result.run_id, "links": links,
                  "great_expectations": "great_expectations" in sys.modules}))
"""


def test_a_raw_run_does_not_import_gx_and_its_page_renders_on_first_request(settings):
    land(settings, "customers/c.csv", customers_csv(1, 7))
    run = subprocess.run(
        [sys.executable, "-c", RAW_RUN, str(settings.data_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "FOUNDATION_DATA_DIR": str(settings.data_dir)},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ran = json.loads(run.stdout.strip().splitlines()[-1])
    assert ran["success"]
    assert not ran["great_expectations"], "a raw run imported Great Expectations (seconds of CPU per run)"
    (link,) = ran["links"]
    assert link == f"{settings.docs_base_url}/data_docs/raw.customers/{ran['run_id']}.html"
    page = settings.data_docs_dir / "raw.customers" / f"{ran['run_id']}.html"
    assert not page.exists()  # not rendered by the run

    from dagster_project.quality.docs import render_data_docs

    with serving(settings, port=0) as server:
        served = dataclasses.replace(settings, docs_port=server.server_address[1])
        link = link.replace(settings.docs_base_url, served.docs_base_url)
        status, body = fetch(link)
        assert status == 200
        html = body.decode("utf-8")
        # GX's validation page of this run: its run id, the suite's expectations, their outcome.
        assert ran["run_id"] in html and "customer_id" in html and "raw.customers" in html
        assert page.exists() and not render_data_docs(page)  # rendered once, then the file is served
        latest_status, latest = fetch(f"{served.docs_base_url}/data_docs/raw.customers/latest.html")
        assert latest_status == 200 and ran["run_id"] in latest.decode("utf-8")
        assert b'href="/data_docs/raw.customers/latest.html"' in fetch(f"{served.docs_base_url}/")[1]
        # The saved source is the server's to render from, not a page of its own.
        assert fetch(link.removesuffix(".html") + ".json")[0] == 404
