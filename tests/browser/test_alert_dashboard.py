"""The alerts dashboard in a real headless Chromium against the running portal: an alert
posted to the API appears without a reload, and alerts sent while the connection was down
appear once it is back, each once; a night of thousands of alerts stays within the window,
on a desktop and on a phone; the page says when no stream runs instead of "live"."""

import datetime

import pytest
from django.utils import timezone

from alerts.synthetic import make_alert
from portal.tenancy import tenant_context
from tests.alerts.test_classification import serve_untrained, wait_published
from tests.alerts.test_dashboard_pages import a_night_of_alerts
from tests.alerts.test_ingest import as_json
from tests.browser.test_live_pages import sign_in
from tests.conftest import api_client

pytestmark = pytest.mark.browser
CONNECTED = "window.alertFeed && window.alertFeed.connected"


def open_dashboard(page, live_server_url, tenant, user):
    """Signed in as ``user``, on the dashboard, its websocket caught up."""
    sign_in(page, live_server_url, user.username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/alerts/")
    page.wait_for_function(CONNECTED, timeout=15_000)


def row_ids(page):
    return page.locator("#alert-rows tr").evaluate_all("rows => rows.map(r => Number(r.dataset.id))")


def test_a_night_of_5000_alerts_stays_within_the_window_on_a_desktop_and_a_phone(
    browser, live_server_url, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        ids = [alert.pk for alert in a_night_of_alerts(tenant, users["admin"], 5000)][::-1]  # newest first
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        open_dashboard(page, live_server_url, tenant, users["admin"])
        assert row_ids(page) == ids[:50], "one page of the newest"
        assert page.evaluate("document.documentElement.scrollHeight") < 3 * height, f"at {width} px wide"

        row = page.locator(f"#alert-rows tr[data-id='{ids[40]}']")
        row.scroll_into_view_if_needed()
        row.click()
        page.wait_for_selector(f"#alert-panel h2 small:text-is('#{ids[40]}')")
        page.wait_for_selector("#alert-panel #light-curve .scatterlayer .point", state="attached", timeout=15_000)
        box = page.locator("#alert-panel").bounding_box()
        assert box["x"] >= 0 and box["y"] >= 0, f"at {width} px wide: {box}"
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, f"at {width} px wide: {box}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "nothing runs off to the right"
        page.keyboard.press("Escape")
        assert page.locator("#alert-panel").is_hidden()

        page.click("#older")
        page.wait_for_function(f"Number(document.querySelector('#alert-rows tr').dataset.id) === {ids[50]}")
        assert row_ids(page) == ids[50:100] and page.is_visible("#newest")
        page.click("#newest")
        page.wait_for_function(f"Number(document.querySelector('#alert-rows tr').dataset.id) === {ids[0]}")
        context.close()


def test_sky_map_dots_are_coloured_by_class_and_open_their_alert_and_a_quiet_stream_is_said(
    page, live_server_url, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        a_night_of_alerts(tenant, users["admin"], 5, received_at=timezone.now() - datetime.timedelta(hours=2))
    open_dashboard(page, live_server_url, tenant, users["admin"])
    assert page.get_attribute("#feed-status", "data-state") == "idle" and page.inner_text("#feed-status") != "live"
    notice = page.inner_text("#stream-notice-text")
    assert page.is_visible("#stream-notice") and "No alert stream is running: none is set up" in notice
    assert "last alert received " in notice and notice.endswith("UTC (2 hours ago).")

    legend = page.locator("#sky-map .legend").text_content()
    assert all(name in legend for name in ("SN Ia", "SN II", "variable star", "AGN", "unclassified"))
    traces = page.locator("#sky-map g.trace.scattergeo")
    colours = traces.evaluate_all("traces => traces.map(t => t.querySelector('.point').style.fill)")
    assert len(set(colours)) == 5, "a colour a class"
    for index in range(traces.count()):
        alert_id = page.evaluate(f"document.getElementById('sky-map').data[{index}].customdata[0][0]")
        traces.nth(index).locator(".point").click(force=True)
        page.wait_for_selector(f"#alert-panel h2 small:text-is('#{alert_id}')", timeout=15_000)

    api = api_client(tenant, users["admin"])
    (alert_id,) = api.post("/api/v1/alerts/", [as_json(make_alert(104).packet)], format="json").json()["ids"]
    page.wait_for_selector(f"#alert-rows tr[data-id='{alert_id}']", timeout=60_000)
    assert page.inner_text("#feed-status") == "live" and page.is_hidden("#stream-notice"), "alerts flow again"


def test_alerts_arrive_live_and_the_missed_ones_after_a_reconnect(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])
    api = api_client(tenant, users["admin"])

    def post(*seeds):
        return api.post("/api/v1/alerts/", [as_json(make_alert(seed).packet) for seed in seeds], format="json").json()

    open_dashboard(page, live_server_url, tenant, users["admin"])
    page.evaluate("window.sameDocument = true")

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
    page.wait_for_function(CONNECTED, timeout=15_000)

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
    open_dashboard(page, live_server_url, tenant, users["admin"])
    page.evaluate("window.sameDocument = true")
    (alert_id,) = api.post("/api/v1/alerts/", [as_json(make_alert(103).packet)], format="json").json()["ids"]
    row = f"#alert-rows tr[data-id='{alert_id}']"
    page.wait_for_selector(row, timeout=60_000)
    assert page.inner_text(f"{row} td.real") == "–", "no model served it when it went out"

    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])  # promoting each queues a backfill of the recent alerts
    for cell in ("real", "kind"):
        page.wait_for_function(f"document.querySelector(\"{row} td.{cell}\").textContent.endsWith('%')",
                               timeout=120_000)  # fmt: skip
    assert page.evaluate("window.sameDocument") and page.locator("#alert-rows tr").count() == 1, "in place, once"
    on_map = page.evaluate(
        "id => document.getElementById('sky-map').data"
        ".filter(t => t.customdata.some(p => p[0] === id)).map(t => t.meta.class)",
        alert_id,
    )
    assert on_map == [page.evaluate("window.alertFeed.newest[0].class")] != [""], "its dot moved to its class"
