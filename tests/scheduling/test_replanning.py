"""Re-plans on real workers: a follow-up's arrival puts it in a telescope's queue."""

from datetime import datetime, timedelta, timezone

from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

from observations.models import Target
from portal.demo import load_site
from portal.tenancy import tenant_context
from scheduling.models import FollowUpRequest, ScheduledObservation
from scheduling.services import request_follow_up
from tests.scheduling.conftest import TEIDE
from tests.waiting import eventually


def _overhead_next_night():
    """RA and Dec of a point overhead at Teide at its next local midnight (01:06 UTC)."""
    now = datetime.now(timezone.utc)
    midnight = datetime(now.year, now.month, now.day, 1, 6, tzinfo=timezone.utc)
    if midnight < now + timedelta(hours=2):
        midnight += timedelta(days=1)
    teide = EarthLocation.from_geodetic(TEIDE["longitude_deg"], TEIDE["latitude_deg"], TEIDE["height_m"] * u.m)
    return Time(midnight).sidereal_time("apparent", longitude=teide.lon).deg, TEIDE["latitude_deg"]


def test_a_follow_up_enters_a_telescopes_queue_moments_after_it_is_asked_for(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        ra, dec = _overhead_next_night()
        target = Target.objects.create(tenant=tenant, name="AT 2027xyz", ra_deg=ra, dec_deg=dec)
        follow_up = request_follow_up(tenant.pk, target, user=users["admin"])
        eventually(lambda: FollowUpRequest.objects.get(pk=follow_up.pk).status == "scheduled", 60,
                   "the re-plan its arrival queued to schedule it")  # fmt: skip
        (queued,) = ScheduledObservation.objects.filter(follow_up=follow_up)
        assert queued.plan.trigger == "follow_up" and queued.state == "planned"
        assert queued.telescope.code == "1m0a" and queued.end - queued.start == timedelta(minutes=10)
