"""The alerts dashboard in a real headless Chromium against the running portal: an alert
posted to the API appears without a reload, and alerts sent while the connection was down
appear once it is back, each once."""

import pytest

from alerts.synthetic import make_alert
from portal.tenancy import tenant_context
from tests.alerts.test_classification import serve_untrained, wait_published
from tests.alerts.test_ingest import as_json
from tests.browser.test_live_pages import sign_in
from tests.conftest import api_client

pytestmark = pytest.mark.browser


def test_alerts_arrive_live_and_the_missed_ones_after_a_reconnect(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])
    api = api_client(tenant, users["admin"])

    def post(*seeds):
        return api.post("/api/v1/alerts/", [as_json(make_alert(seed).packet) for seed in seeds], format="json").json()

    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/alerts/")
    page.evaluate("window.sameDocument = true")
    page.wait_for_selector("#feed-status >> text=live", timeout=15_000)

    (first,) = post(100)["ids"]
    page.wait_for_selector(f"#alert-rows tr[data-id='{first}']", timeout=60_000)
    assert page.evaluate("window.sameDocument"), "the alert arrived without a reload"
    assert page.locator("#sky-map .scattergeo .point").count() == 1

    page.evaluate("window.alertFeed.paused = true; window.alertFeed.socket.close()")
    page.wait_for_selector("#feed-status >> text=paused")
    missed = post(101, 102)["ids"]
    wait_published(tenant, missed)
    assert page.locator("#alert-rows tr").count() == 1, "nothing arrives while the connection is down"
    page.evaluate("window.alertFeed.reconnect()")
    for alert_id in missed:
        page.wait_for_selector(f"#alert-rows tr[data-id='{alert_id}']", timeout=15_000)
    page.wait_for_selector("#feed-status >> text=live")
    ids = [int(row) for row in page.locator("#alert-rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert ids == [missed[1], missed[0], first], "newest first, each alert once"

    page.click(f"#alert-rows tr[data-id='{first}']")
    page.wait_for_selector("#stamps img", timeout=15_000)
    page.wait_for_function("[...document.querySelectorAll('#stamps img')].every(i => i.complete && i.naturalWidth)")
    assert page.locator("#stamps img").count() == 3
    page.wait_for_selector("#light-curve .scatterlayer .point", state="attached", timeout=15_000)
    assert "real-bogus v1" in page.inner_text("#classifications")


def test_a_filter_written_in_the_form_narrows_the_live_feed(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=[])
    api = api_client(tenant, users["astronomer"])

    def post(seed, magnitude):
        packet = make_alert(seed).packet
        packet["candidate"]["magpsf"] = magnitude
        return api.post("/api/v1/alerts/", [as_json(packet)], format="json").json()["ids"][0]

    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/alerts/")
    page.click("text=New filter")
    page.fill("#id_name", "Brighter than 18")
    page.fill("#id_brighter_than", "18")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector("h1 >> text=Alerts: Brighter than 18")
    page.evaluate("window.sameDocument = true")
    page.wait_for_selector("#feed-status >> text=live", timeout=15_000)

    faint, bright = post(200, 19.5), post(201, 17.2)
    page.wait_for_selector(f"#alert-rows tr[data-id='{bright}']", timeout=60_000)
    wait_published(tenant, [faint])  # it went out (before the bright one: one gpu worker keeps order), not here
    ids = page.locator("#alert-rows tr").evaluate_all("rows => rows.map(r => Number(r.dataset.id))")
    assert ids == [bright] and page.evaluate("window.sameDocument")
    page.select_option("#id_filter", "")
    for alert_id in (faint, bright):
        page.wait_for_selector(f"#alert-rows tr[data-id='{alert_id}']", timeout=15_000)


def test_alerts_sent_out_before_any_model_get_its_answers_in_place_when_one_is_promoted(
    page, live_server_url, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=[])
    api = api_client(tenant, users["admin"])
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/alerts/")
    page.evaluate("window.sameDocument = true")
    page.wait_for_selector("#feed-status >> text=live", timeout=15_000)
    (alert_id,) = api.post("/api/v1/alerts/", [as_json(make_alert(103).packet)], format="json").json()["ids"]
    row = f"#alert-rows tr[data-id='{alert_id}']"
    page.wait_for_selector(row, timeout=60_000)
    assert page.locator(f"{row} td").nth(5).inner_text() == "–", "no model served it when it went out"

    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])  # promoting each queues a backfill of the recent alerts
    page.wait_for_function(f"document.querySelector(\"{row}\").children[5].textContent.endsWith('%')", timeout=120_000)
    page.wait_for_function(f"document.querySelector(\"{row}\").children[6].textContent.endsWith('%')", timeout=120_000)
    assert page.evaluate("window.sameDocument") and page.locator("#alert-rows tr").count() == 1, "in place, once"
