"""Pages that change live, driven in a real headless Chromium against the running portal."""

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Records every value the progress bar takes, from before the page's own scripts run.
RECORD_PROGRESS = """
window.progressSeen = [];
new MutationObserver((mutations) => {
  for (const m of mutations) window.progressSeen.push(Number(m.target.getAttribute('aria-valuenow')));
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['aria-valuenow']});
"""


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_self_test_progress_bar_moves_live_to_done(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.click("#start-selftest")
    page.wait_for_selector("#job-status.succeeded", timeout=60_000)
    seen = page.evaluate("window.progressSeen")
    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen), f"the bar jumped straight to the end: {seen}"
    assert seen == sorted(seen)
    assert page.inner_text("#job-connection") == "finished"
    assert "gpu@" in page.inner_text("#job-result")


def test_tenant_home_shows_sites_map_and_live_health(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=["north", "south"])
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.wait_for_selector("#health li.ok >> text=gpu: 1 worker", timeout=15_000)
    assert page.locator("#health li.down").count() == 0
    page.wait_for_selector("#sites-map .scattergeo .point", state="attached", timeout=15_000)
    assert page.locator("#sites-map .scattergeo .point").count() == 2
    assert page.locator("#sites-map .geo path.countries, #sites-map .geo .countries path").count() > 0, (
        "country outlines come from the portal's own topojson"
    )
