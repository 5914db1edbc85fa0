"""The README's UI tour ("Seeing it in the UI"), followed step by step in headless Chromium.

After `foundation demo` (whose orders batch holds `orders_2026-11-06_bad_batch.csv` back on an audit
branch and publishes the other files),
`dagster dev` serves the UI; each step opens what the README's step names and waits for every menu
entry, tab, check and metadata key it mentions, then saves a screenshot named after the step under
`.data/screenshots/`. A README step renamed or an element gone from this Dagster version fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.dagster_dev import ROOT, _free_port, dagster_dev, embedded_env

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_MS = 60_000  # the first page waits for the code location to load; later ones are quick

# The tour's steps, in the README's order: one screenshot each.
SHOTS = [
    "01_catalog.png",
    "02_lineage_raw.png",
    "03_orders_overview.png",
    "04_orders_events_held_back.png",
    "05_orders_checks.png",
    "06_orders_no_held_batches.png",
    "07_runs_failed.png",
    "08_held_run.png",
    "09_jobs.png",
    "10_release_launchpad.png",
    "11_lineage_curated.png",
    "12_curated_orders_checks.png",
    "13_curated_orders_data_card.png",
    "14_data_card.png",
    "15_automation.png",
]
MENU = ["Overview", "Runs", "Catalog", "Jobs", "Automation", "Lineage", "Deployment"]
ASSET_TABS = ["Overview", "Events", "Checks", "Lineage"]  # dbt models add "Automation"
SENSORS = [
    "curated_automation",
    "customers_landing_sensor",
    "orders_landing_sensor",
    "products_landing_sensor",
    "support_tickets_landing_sensor",
    "documents_landing_sensor",
    "freshness_sensor",
]
SCHEDULES = ["daily_dbt_build", "table_maintenance"]


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)
def test_readme_ui_tour(tmp_path):
    # The docs server's port is in the links the demo's publishes write, and `make dev` serves it.
    docs_url = f"http://127.0.0.1:{_free_port()}"
    env = embedded_env(tmp_path / "data", FOUNDATION_DOCS_PORT=docs_url.rsplit(":", 1)[1])
    demo = subprocess.run(
        [sys.executable, "-m", "dagster_project", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]

    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        with dagster_dev(env, tmp_path / "dev.log", docs=True) as dev:
            seen = _tour(dev.url, docs_url, shots)
    finally:
        kept = ROOT / ".data" / "screenshots"
        kept.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy(shot, kept / shot.name)
    assert sorted(p.name for p in shots.glob("*.png")) == SHOTS
    # Every label the README's tour puts in bold is one the browser found on its page.
    unchecked = _readme_ui_labels() - seen
    assert not unchecked, (
        f"README 'Seeing it in the UI' names labels the tour never found: {sorted(unchecked)}"
    )


def _readme_ui_labels() -> set[str]:
    """The UI labels the README's tour names: its bold words (`**Catalog**`, `**Launch Run**`, …)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Seeing it in the UI\n", 1)[1].split("\n## ", 1)[0]
    return {" ".join(label.split()) for label in re.findall(r"\*\*(.+?)\*\*", section, re.DOTALL)}


def _tour(base: str, docs_url: str, shots: Path) -> set[str]:
    """The README's steps in order; each waits for the elements it names, then takes its screenshot.

    Returns the labels (menu entries, tabs, buttons, texts) found, for the check against the README.
    """
    seen: set[str] = set()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.set_default_timeout(WAIT_MS)
        # Dagster's first-visit "Join the Dagster community" dialog covers the page whenever it shows.
        page.add_locator_handler(
            page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
        )

        def open_(path: str) -> None:
            page.goto(f"{base}{path}", wait_until="domcontentloaded")

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / name), animations="disabled")  # dialogs fully faded in

        def tabs(*names: str) -> None:
            for name in names:
                expect(page.get_by_role("tab", name=name, exact=True)).to_be_visible()
                seen.add(name)

        def link(name: str):
            # A link's accessible name holds its icons' names ("runs Runs", "job release_held_batch info").
            seen.add(name)
            return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(name)}(\s|$)")).first

        def button(name: str):
            seen.add(name)
            return page.get_by_role("button", name=re.compile(rf"(^|\s){re.escape(name)}$"))

        def text(value: str, exact: bool = True) -> None:
            expect(page.get_by_text(value, exact=exact).first).to_be_visible()
            seen.add(value)

        # 1. The left menu, and Catalog: every asset as `layer / name`, with its group and status.
        open_("/assets")
        for entry in MENU:
            expect(link(entry)).to_be_visible()
        for asset in ("raw / orders", "staging / stg_orders", "curated / customer_features"):
            expect(page.get_by_role("link", name=asset).first).to_be_visible()
        text("Code location / Asset group")
        expect(page.get_by_text("Loading...", exact=True)).to_have_count(0)  # every status loaded
        # One red cross: raw / orders, whose check no_held_batches fails while a file is held.
        failed = page.get_by_role("img", name="check_failed", exact=True)
        expect(failed).to_have_count(1)
        row = failed.locator("xpath=ancestor::*[.//a[starts-with(@href, '/assets/')]][1]")
        expect(row.locator('a[href="/assets/raw/orders"]')).to_have_count(1)
        shot(SHOTS[0])

        # 2. Lineage, filtered to the raw group: one node per dataset.
        link("Lineage").click()
        open_('/asset-groups~group%3A"raw"')
        expect(page.get_by_text("Global asset lineage")).to_be_visible()
        for dataset in ("customers", "orders", "products", "support_tickets", "documents"):
            text(dataset)
        text("11 / 17 Passed")  # raw / orders: no_held_batches and five WARN checks (drop, warn) failed
        for row in ("Latest event", "Asset checks", "Partitions", "Automation"):
            text(row)
        shot(SHOTS[1])

        # 3. raw / orders, tab Overview.
        open_("/assets/raw/orders")
        tabs(*ASSET_TABS)
        for section in ("Status", "Description", "Columns", "Metadata", "Definition", "Automation details"):
            text(section)
        for status in ("Latest materialization", "Latest check results", "Freshness policy", "Row count"):
            text(status)
        for view in ("Table", "Plots"):
            expect(button(view)).to_be_visible()
        shot(SHOTS[2])

        # 4. Tab Events: the orders batch's materialization (on top) says first what it held back: the
        # held file and what its rows failed, its rows read from the branch, and the branch.
        page.get_by_role("tab", name="Events", exact=True).click()
        for key in ("quality_gate", "rows_held", "held_preview", "audit_branch", "data_docs"):
            text(key)
        text("held_back_files")
        text("FILES HELD BACK")
        branch = page.get_by_text(re.compile(r"^audit-[0-9a-f-]{36}$")).first
        expect(branch).to_be_visible()
        held_branch = branch.inner_text().strip()
        shot(SHOTS[3])
        # held_back_files, shown as a table: the held file and the expectations its own rows failed.
        row = page.get_by_role("row").filter(has=page.get_by_text("held_back_files", exact=True))
        expect(row).to_contain_text("orders/orders_2026-11-06_bad_batch.csv")
        expect(row).to_contain_text("order_id_not_null, amount_between")

        # 5. Tab Checks: one check per expectation; a failed `fail` check is red (ERROR) and blocking,
        # a failed `warn` check yellow (WARN).
        page.get_by_role("tab", name="Checks", exact=True).click()
        for check in ("order_id_not_null", "amount_between", "customer_exists", "freshness_window"):
            text(check)
        _expect_check_icon(page, expect, "ordered_at_max_between", "warning_outline")  # failed, WARN
        _expect_check_icon(page, expect, "no_held_batches", "cancel")
        page.get_by_text("amount_between", exact=True).first.click()
        text("This is a blocking asset check.", exact=False)
        for part in ("About", "Latest execution", "Execution history"):
            text(part)
        expect(page.locator(f'a[href^="{docs_url}/data_docs/raw.orders/"]').first).to_be_visible()
        shot(SHOTS[4])

        # 6. The check no_held_batches: failed, non-blocking, naming the held branch.
        page.get_by_text("no_held_batches", exact=True).first.click()
        text("This is a non-blocking asset check.", exact=False)
        text(f"1 batch(es) of raw.orders held back: {held_branch}")
        for key in ("held", "branches", "what_to_do"):
            text(key)
        shot(SHOTS[5])

        # 7. Runs, tab Failed: the orders batch's run (it held a file), tagged with its first file and count.
        open_("/runs")
        tabs("All", "Failed")
        page.get_by_role("tab", name="Failed", exact=True).click()
        text("foundation/file: orders/orders_2026-11-01.csv (+6 more)")
        text("Failure")
        shot(SHOTS[6])

        # 8. The run itself: its error names the table, the branch, the held file, what it failed, the jobs.
        page.locator('a[href^="/runs/"]').filter(has_text=re.compile(r"^[0-9a-f]{8}$")).first.click()
        failure = page.get_by_text(
            f"raw.orders: 1 file(s) HELD BACK by the quality gate on branch {held_branch}", exact=False
        ).first
        expect(failure).to_contain_text(
            "orders/orders_2026-11-06_bad_batch.csv (order_id_not_null, amount_between)"
        )
        expect(failure).to_contain_text("release_held_batch / discard_held_batch")
        for event in ("STEP_FAILURE", "RUN_FAILURE"):
            text(event)
        failure.scroll_into_view_if_needed()
        shot(SHOTS[7])

        # 9. Jobs: release_held_batch and discard_held_batch.
        open_("/jobs")
        for job in ("release_held_batch", "discard_held_batch"):
            expect(link(job)).to_be_visible()
        shot(SHOTS[8])

        # 10. release_held_batch, tab Launchpad: its op release_batch takes table and branch.
        link("release_held_batch").click()
        tabs("Overview", "Launchpad", "Runs")
        page.get_by_role("tab", name="Launchpad", exact=True).click()
        expect(button("release_batch")).to_be_visible()
        expect(button("Scaffold missing config")).to_be_visible()
        # The README's config, with the held branch, typed after the editor's resource config:
        # Launch Run turns enabled once the Launchpad finds it valid (not launched: the tour only looks).
        config = f"\nops: {{release_batch: {{config: {{table: raw.orders, branch: {held_branch}}}}}}}\n"
        page.locator(".CodeMirror").first.evaluate(
            "(editor, extra) => editor.CodeMirror.setValue(editor.CodeMirror.getValue() + extra)", config
        )
        expect(button("Launch Run")).to_be_enabled()
        text("No errors")
        shot(SHOTS[9])

        # 11. Lineage, filtered to the curated group: the dbt models, their checks all passed.
        open_('/asset-groups~group%3A"curated"')
        for model in ("customer_features", "orders", "support_tickets"):
            text(model)
        text("11 / 11 Passed")
        shot(SHOTS[10])

        # 12. curated / orders, tab Checks: dbt tests and the GX suite; currency_in_set warns (WARN).
        open_("/assets/curated/orders?view=checks")
        tabs(*ASSET_TABS, "Automation")
        for check in ("not_null_orders_order_id", "unique_orders_order_id", "amount_between"):
            text(check)
        _expect_check_icon(page, expect, "currency_in_set", "warning_outline")
        shot(SHOTS[11])

        # 13-14. Tab Events: the data_card link, opened over HTTP.
        page.get_by_role("tab", name="Events", exact=True).click()
        for key in ("card", "data_card"):
            text(key)
        row = page.get_by_role("row").filter(has=page.get_by_text("card", exact=True))
        expect(row.get_by_text("[Show Markdown]")).to_be_visible()  # the card, behind a dialog
        seen.add("[Show Markdown]")
        # Stored with the materialization, but this Dagster version's UI leaves column lineage out.
        expect(page.get_by_text("dagster/column_lineage")).to_have_count(0)
        card = page.locator('a[href*="curated.orders.html"]').first
        expect(card).to_be_visible()
        shot(SHOTS[12])
        href = card.get_attribute("href")
        assert href == f"{docs_url}/cards/curated.orders.html"
        # The link opens in a new tab (target=_blank), as a user's click does: over HTTP, status 200.
        context = page.context
        with (
            context.expect_page() as opened,
            context.expect_event("response", lambda response: response.url == href) as answered,
        ):
            card.click()
        assert answered.value.status == 200, href
        card_page = opened.value
        expect(card_page).to_have_title(re.compile("curated.orders"))
        expect(card_page.get_by_text("Data card: curated.orders")).to_be_visible()
        card_page.screenshot(path=str(shots / SHOTS[13]))
        card_page.close()

        # 15. Automation: the sensors and schedules, all running from the start.
        open_("/automation")
        for name in SENSORS + SCHEDULES:
            expect(page.get_by_text(name, exact=True)).to_be_visible()
        text("Automation condition sensor")
        # Each row's switch is on (the page's "Select all" box is the one unchecked).
        expect(page.get_by_role("checkbox", checked=True)).to_have_count(len(SENSORS + SCHEDULES))
        shot(SHOTS[14])
        browser.close()
    return seen


def _expect_check_icon(page, expect, check: str, icon: str) -> None:
    """The check's row in a Checks tab shows `icon`: `cancel` (red) failed ERROR, `warning_outline` WARN."""
    # The nearest element around the check's name that holds an icon: its row in the list.
    row = page.locator(f'[title="{check}"]').first.locator('xpath=ancestor::div[.//*[@role="img"]][1]')
    expect(row.get_by_role("img", name=icon, exact=True)).to_be_visible()
