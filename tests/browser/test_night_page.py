"""Tonight's plan changes live: a telescope's reports redraw the Gantt chart without a reload."""

from datetime import timedelta

import pytest
from django.utils import timezone

from observations.models import Target
from portal.demo import load_site
from portal.models import Telescope
from portal.tenancy import tenant_context
from scheduling import queues
from scheduling.models import ScheduledObservation
from scheduling.nightly import plan_night
from scheduling.proposals import (
    ConfigurationSpec,
    add_request_group,
    create_proposal,
    create_semester,
    decide_proposal,
    submit_proposal,
)
from tests.browser.test_live_pages import sign_in
from tests.scheduling.conftest import MEMBERS, TEIDE, request_spec
from tests.scheduling.test_replanning import _overhead_next_night

pytestmark = pytest.mark.browser
TRACES = "() => (document.getElementById('gantt').data || []).map((trace) => trace.name).sort().join(',')"


def test_the_gantt_chart_follows_a_telescopes_reports_live(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=MEMBERS, sites=[])
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        ra, dec = _overhead_next_night()
        target = Target.objects.create(tenant=tenant, name="Overhead", ra_deg=ra, dec_deg=dec)
        now = timezone.now()
        semester = create_semester(tenant, "now", now - timedelta(days=1), now + timedelta(days=30))
        proposal = create_proposal(tenant, users["astronomer"], semester, title="Live", hours={"1m0": 5})
        proposal = decide_proposal(submit_proposal(proposal), approve=True)
        window = (now + timedelta(minutes=5), now + timedelta(hours=24))
        spec = request_spec(target, window, configurations=[ConfigurationSpec("sinistro", "r", 60, 1)])
        add_request_group(proposal, users["astronomer"], name="two", requests=[spec, spec])
        plan = plan_night(tenant, time_limit_s=10)
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
