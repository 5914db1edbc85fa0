"""The README's "Add your own data" runs as written, and does what it says."""

from __future__ import annotations

import json
import re

import pytest

from dagster_project.settings import PROJECT_DIR

pytestmark = pytest.mark.slow


def _chapter_commands() -> list[str]:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    chapter = readme.split("\n## Add your own data\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", chapter, flags=re.S)


def test_the_add_your_own_data_chapter_runs_as_written(checkout):
    blocks = _chapter_commands()
    assert len(blocks) == 5, "the test follows the chapter's five steps"
    outputs = []
    for block in blocks:
        done = checkout.run(block)
        assert done.returncode == 0, block + done.stdout + done.stderr[-3000:]
        outputs.append(done.stdout)
    land, declare, ingest, correction, retry = outputs
    assert "dry run: 5 file(s) would change; nothing written" in declare
    assert "primary key site, meter, read_on" in declare and "wrote expectations/raw.meters.json" in declare
    assert "2 file(s) ingested, 5 rows" in ingest and "staging.stg_meters: 5 row(s) written" in ingest
    assert "2026-01-corrected.csv: quarantined, encoding: line 2:" in correction
    assert "`encoding: latin-1`" in correction and "foundation retry meters" in correction
    assert "1 file(s) ingested, 1 rows" in retry
    rows = checkout.run(
        '.venv/bin/foundation query --as data_engineer --format json "select site, meter, read_on, kwh, '
        'technician from staging.stg_meters order by all"'
    )
    readings = json.loads(rows.stdout)
    assert len(readings) == 5
    assert readings[0]["kwh"] == 101.75 and readings[0]["technician"] == "Zoé Brontë"  # the correction
    assert "encoding: latin-1" in (checkout.root / "dagster_project" / "sources.yml").read_text()
