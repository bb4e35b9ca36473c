"""The demo's simulated telescopes work their queues through the running portal's API."""

import numpy as np

from portal import services
from portal.tenancy import tenant_context
from scheduling.models import Request, ScheduledObservation, TimeAllocation
from scheduling.simulator import SimulatedTelescopes
from tests.scheduling.conftest import MEMBERS, planned_from_now


def test_simulated_telescopes_start_complete_and_fail_through_the_api(live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(members=MEMBERS, sites=[])
    proposal, _ = planned_from_now(tenant, users)
    with tenant_context(tenant):
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
