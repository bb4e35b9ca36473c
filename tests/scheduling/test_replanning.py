"""Re-plans on real workers: a follow-up's arrival puts it in a telescope's queue."""

from datetime import timedelta

from observations.models import Target
from portal.demo import load_site
from portal.tenancy import tenant_context
from scheduling.models import FollowUpRequest, ScheduledObservation
from scheduling.services import request_follow_up
from tests.scheduling.conftest import TEIDE, overhead_next_night
from tests.waiting import eventually


def test_a_follow_up_enters_a_telescopes_queue_moments_after_it_is_asked_for(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        ra, dec = overhead_next_night()
        target = Target.objects.create(tenant=tenant, name="AT 2027xyz", ra_deg=ra, dec_deg=dec)
        follow_up = request_follow_up(tenant.pk, target, user=users["admin"])
        eventually(lambda: FollowUpRequest.objects.get(pk=follow_up.pk).status == "scheduled", 60,
                   "the re-plan its arrival queued to schedule it")  # fmt: skip
        (queued,) = ScheduledObservation.objects.filter(follow_up=follow_up)
        assert queued.plan.trigger == "follow_up" and queued.state == "planned"
        assert queued.telescope.code == "1m0a" and queued.end - queued.start == timedelta(minutes=10)
