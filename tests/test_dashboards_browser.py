"""The dashboards in a real browser: `cliffhanger dashboard` served, Debian's Chromium driving it.

Every page is opened, waited for (its own content, then the end of Streamlit's run),
screenshotted and checked for error elements; then a new snapshot is published with the CLI
while the server runs, and the pages show it without a restart or an error.
Set CLIFFHANGER_SCREENSHOTS to a folder to keep the screenshots (docs/screenshots was made so).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dashboards.browser import (
    CHROMIUM,
    ERROR_SELECTOR,
    PAGES,
    click_sidebar,
    launch_chromium,
    serve,
    wait_rendered,
)

# its assertions get pytest's messages too (it is imported here before being registered)
pytest.register_assert_rewrite("tests.dashboard_fixtures")
from tests.dashboard_fixtures import (  # noqa: E402
    connect,
    copy_home,
    publish_again,
)

# the session fixtures (dash_home, dash_home_models), registered once for both modules
pytest_plugins = ["tests.dashboard_fixtures"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is absent: install Debian's chromium (scripts/test.sh does)",
    ),
]


def test_every_page_renders_in_chromium_and_follows_a_new_snapshot(
    dash_home_models: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    home = copy_home(dash_home_models, tmp_path / "home")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    keep = os.environ.get("CLIFFHANGER_SCREENSHOTS")
    version = (
        connect(home).execute("SELECT snapshot_version FROM analytics.snapshot_info").fetchone()[0]
    )
    with serve(home) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            for spec in PAGES:
                page.goto(f"{url}/{spec.path}")
                wait_rendered(page, spec)
                page.screenshot(path=shots / f"{spec.name}.png")
                assert page.locator(ERROR_SELECTOR).count() == 0, spec.name
                # every page shows the shared sidebar: navigation, date filter, snapshot
                assert page.locator('[data-testid="stSidebarNav"]').is_visible()
                assert page.get_by_text(version).first.is_visible(), spec.name
                # the content team sees no Deploy button (a minimal toolbar)
                assert page.get_by_role("button", name="Deploy").count() == 0, spec.name
            # every page again through its sidebar link, in the same session
            for spec in PAGES:
                click_sidebar(page, spec)
                wait_rendered(page, spec)
                assert page.locator(ERROR_SELECTOR).count() == 0, spec.name
            # the sample data is months old: Data health says so
            page.goto(f"{url}/data-health")
            wait_rendered(page, PAGES[5])
            assert page.get_by_text("days old.").first.is_visible()
            # the comparison shortcut sets the sidebar's range: six deltas, no warning
            page.goto(f"{url}/{PAGES[0].path}")
            wait_rendered(page, PAGES[0])
            page.get_by_role(
                "button", name="Compare the last 7 days with the 7 days before"
            ).click()
            page.get_by_text("2026-09-14 to 2026-09-20 (7 days)").wait_for()
            wait_rendered(page, PAGES[0])
            assert page.locator('[data-testid="stMetricDelta"]').count() == 6
            assert page.locator('[data-testid="stAlertContentWarning"]').count() == 0
            assert page.locator(ERROR_SELECTOR).count() == 0
            # page-specific content really drew: charts on the chart pages, metrics
            page.goto(f"{url}/series")
            wait_rendered(page, PAGES[1])
            # funnel, stops and lost share by cause, survival, hazard, exit heatmap, episode
            assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 7
            assert page.get_by_text("viewers are still watching").first.is_visible()
            page.goto(f"{url}/recommendations")
            wait_rendered(page, PAGES[4])
            assert page.get_by_text("Best model: als (ndcg@10)").is_visible()

            # publish a new snapshot while the server runs: the next page load shows it
            publish_again(home)
            new_version = (
                connect(home)
                .execute("SELECT snapshot_version FROM analytics.snapshot_info")
                .fetchone()[0]
            )
            assert new_version != version
            for spec in PAGES:
                page.goto(f"{url}/{spec.path}")
                wait_rendered(page, spec)
                assert page.locator(ERROR_SELECTOR).count() == 0, spec.name
                assert page.get_by_text(new_version).first.is_visible(), spec.name
            # the republished warehouse has no model tables: a clear empty state, no traceback
            page.goto(f"{url}/recommendations")
            wait_rendered(page, PAGES[4])
            assert page.get_by_text("No model has been published yet").first.is_visible()
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{s.name}.png" for s in PAGES)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, Path(keep) / shot.name)


def test_pages_explain_a_missing_warehouse_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with serve(tmp_path) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            for spec in PAGES:
                page.goto(f"{url}/{spec.path}")
                page.get_by_text("No warehouse has been published yet").first.wait_for()
                assert page.locator(ERROR_SELECTOR).count() == 0, spec.name
        finally:
            browser.close()
