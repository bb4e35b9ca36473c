"""The demo's simulated telescopes work their queues through the running portal's API."""

from datetime import timedelta

import numpy as np
from django.utils import timezone

from observations.models import Target
from portal import services
from portal.demo import load_site
from portal.tenancy import tenant_context
from scheduling.models import Request, ScheduledObservation, TimeAllocation
from scheduling.nightly import plan_night
from scheduling.proposals import (
    ConfigurationSpec,
    add_request_group,
    create_proposal,
    create_semester,
    decide_proposal,
    submit_proposal,
)
from scheduling.simulator import SimulatedTelescopes
from tests.scheduling.conftest import MEMBERS, TEIDE, request_spec
from tests.scheduling.test_replanning import _overhead_next_night


def test_simulated_telescopes_start_complete_and_fail_through_the_api(live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=MEMBERS, sites=[])
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        ra, dec = _overhead_next_night()
        target = Target.objects.create(tenant=tenant, name="Overhead", ra_deg=ra, dec_deg=dec)
        now = timezone.now()
        semester = create_semester(tenant, "now", now - timedelta(days=1), now + timedelta(days=30))
        proposal = create_proposal(tenant, users["astronomer"], semester, title="Simulated", hours={"1m0": 5})
        proposal = decide_proposal(submit_proposal(proposal), approve=True)
        spec = request_spec(target, (now + timedelta(minutes=5), now + timedelta(hours=24)),
                            configurations=[ConfigurationSpec("sinistro", "r", 60, 1)])  # fmt: skip
        add_request_group(proposal, users["astronomer"], name="two", requests=[spec, spec])
        plan_night(tenant, time_limit_s=10)
        _, key = services.issue_api_key(tenant, users["admin"], name="telescopes", scope="write")
    steady = SimulatedTelescopes(live_server_url, key, speed=1e9, failure_rate=0.0, rng=np.random.default_rng(1))
    assert set(steady.tick().values()) == {"started"}
    assert set(steady.tick().values()) == {"completed"}
    with tenant_context(tenant):
        assert TimeAllocation.objects.get(proposal=proposal).hours_used > 0, "the allocation bar moves"
        assert list(Request.objects.order_by("state").values_list("state", flat=True)) == ["completed", "scheduled"]
    cloudy = SimulatedTelescopes(live_server_url, key, speed=1e9, failure_rate=1.0, rng=np.random.default_rng(1))
    assert set(cloudy.tick().values()) == {"started"}
    assert set(cloudy.tick().values()) == {"failed"}
    with tenant_context(tenant):
        failed = ScheduledObservation.objects.get(state="failed")
        assert failed.failure == "clouds (simulated)" and failed.request.state == "pending"
