"""An astronomer makes a request group in a real browser: the spare requests a browser sends
untouched must not stand in the way of the one filled in."""

from datetime import datetime, timedelta, timezone

import pytest

from portal.tenancy import tenant_context
from tests.browser.test_live_pages import sign_in
from tests.scheduling.conftest import MEMBERS, planned_from_now

pytestmark = pytest.mark.browser


def test_an_astronomer_queues_a_request_group_from_the_proposals_page(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=MEMBERS, sites=[])
    proposal, _ = planned_from_now(tenant, users)
    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/scheduling/proposals/{proposal.pk}/")
    page.click("#new-request-group")
    now = datetime.now(timezone.utc)
    page.fill("#id_name", "Tonight's colours")
    page.fill("#id_requests-0-target", "Overhead")
    page.fill("#id_requests-0-window_start", f"{now + timedelta(minutes=10):%Y-%m-%dT%H:%M}")
    page.fill("#id_requests-0-window_end", f"{now + timedelta(hours=24):%Y-%m-%dT%H:%M}")
    page.fill("#id_requests-0-exposure_1", "60")
    page.select_option("#id_requests-0-filter_2", "g")
    page.fill("#id_requests-0-exposure_2", "90")
    page.click("text=Check and queue the group")
    page.wait_for_selector("text=Tonight's colours: 1 request in the queue")
    assert "Tonight's colours" in page.inner_text("#request-groups")
    with tenant_context(tenant):
        group = proposal.request_groups.get(name="Tonight's colours")
        configurations = group.requests.get().configurations.order_by("order")
        assert list(configurations.values_list("filter_name", "exposure_s")) == [("g", 60), ("g", 90)]
