"""The UI in a real browser: after the demo, `dagster dev` shows the gate's checks and the held-back batch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.dagster_dev import ROOT, dagster_dev

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = {"asset_graph.png", "orders_checks.png", "orders_held_back.png"}


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)
def test_asset_checks_and_held_back_batch_are_visible_in_the_ui(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")}
    (data / "dagster_home").mkdir(parents=True)
    shutil.copy(ROOT / "dagster_project" / "dagster.yaml", data / "dagster_home" / "dagster.yaml")
    demo = subprocess.run(
        [sys.executable, "-m", "dagster_project", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]

    shots = data / "screenshots"
    shots.mkdir()
    try:
        with dagster_dev(env, tmp_path / "dev.log") as dev:
            _look(dev.url, shots)
    finally:
        kept = ROOT / ".data" / "screenshots"
        kept.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, kept / shot.name)
    assert {p.name for p in shots.glob("*.png")} == SHOTS


def _look(base: str, shots: Path) -> None:
    """Drive Chromium through the pages a user checks after the demo; screenshot each."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        def settle() -> None:
            page.wait_for_load_state("networkidle")
            skip = page.get_by_role("button", name="Skip")
            if skip.count():  # Dagster's first-visit community dialog
                skip.first.click()

        page.goto(f"{base}/locations/foundation/asset-groups/raw", wait_until="domcontentloaded")
        page.get_by_text("orders", exact=True).first.wait_for(timeout=60_000)
        settle()
        page.screenshot(path=str(shots / "asset_graph.png"), full_page=True)

        page.goto(f"{base}/assets/raw/orders?view=checks", wait_until="domcontentloaded")
        for check in ("order_id_not_null", "amount_between", "customer_exists", "quantity_between"):
            page.get_by_text(check, exact=True).first.wait_for(timeout=60_000)
        settle()
        # The held-back batch's blocking checks failed (the sensors start no run for handled files).
        page.get_by_text("Failed", exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "orders_checks.png"), full_page=True)

        page.goto(f"{base}/assets/raw/orders", wait_until="domcontentloaded")
        settle()
        page.get_by_text("HELD BACK").first.wait_for(timeout=60_000)
        assert page.get_by_text("audit_branch").count() >= 1
        page.screenshot(path=str(shots / "orders_held_back.png"), full_page=True)
        browser.close()
