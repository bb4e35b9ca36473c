"""Tonight's plan changes live: a telescope's reports redraw the Gantt chart without a reload."""

import pytest

from portal.models import Telescope
from portal.tenancy import tenant_context
from scheduling import queues
from scheduling.models import ScheduledObservation
from tests.browser.test_live_pages import sign_in
from tests.scheduling.conftest import MEMBERS, planned_from_now

pytestmark = pytest.mark.browser
TRACES = "() => (document.getElementById('gantt').data || []).map((trace) => trace.name).sort().join(',')"


def test_the_gantt_chart_follows_a_telescopes_reports_live(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=MEMBERS, sites=[])
    _, plan = planned_from_now(tenant, users)
    with tenant_context(tenant):
        first = ScheduledObservation.objects.filter(plan=plan).order_by("start").first()
        telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/scheduling/night/")
    page.wait_for_selector("#night-connection >> text=live")
    assert page.evaluate(TRACES) == "planned"
    with tenant_context(tenant):
        queues.start(telescope, first.pk)
    page.wait_for_function(f"{TRACES} === 'planned,started'")
    with tenant_context(tenant):
        queues.complete(telescope, first.pk)
    page.wait_for_function(f"{TRACES} === 'completed,planned'")
    assert "2 observations placed of 2 asked for" in page.inner_text("#plan-summary")
