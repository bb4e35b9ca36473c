"""The scheduling tests' observatory: one site, an approved proposal and a target high tonight."""

from datetime import datetime, timedelta, timezone

import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

from observations.models import Target
from portal.demo import load_site
from portal.tenancy import tenant_context
from scheduling.proposals import (
    ConfigurationSpec,
    RequestSpec,
    add_request_group,
    create_proposal,
    create_semester,
    decide_proposal,
    submit_proposal,
)
from scheduling.visibility import Constraints

FILTERS = [("r", 623, 138), ("g", 477, 137)]
TEIDE = {"code": "tfn", "name": "Teide", "latitude_deg": 28.30, "longitude_deg": -16.51, "height_m": 2390,
         "telescopes": [("1m0a", "Teide 1.0 m", 1.0, 26.5, 0.389, "sinistro", FILTERS)]}  # fmt: skip
MEMBERS = (("admin", "admin"), ("astronomer", "astronomer"))


def tonight():
    """Tomorrow's night at Teide in UTC (20:00 to 08:00 holds its astronomical night in any
    season), and the RA that culminates in the middle of it: a target there is high all night."""
    day = datetime.now(timezone.utc).date() + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 20, tzinfo=timezone.utc)
    middle = Time(start + timedelta(hours=6))
    ra = middle.sidereal_time("apparent", longitude=EarthLocation.from_geodetic(-16.51, 28.30, 2390 * u.m).lon).deg
    return (start, start + timedelta(hours=12)), ra


@pytest.fixture
def approved(tenant_factory):
    """An approved proposal with 10 h on the 1-m class, and a target overhead tomorrow night."""
    tenant, users = tenant_factory(members=MEMBERS)
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        window, ra = tonight()
        target = Target.objects.create(tenant=tenant, name="Overhead", ra_deg=ra, dec_deg=28.3)
        semester = create_semester(tenant, "next", window[0] - timedelta(days=30), window[1] + timedelta(days=150))
        proposal = create_proposal(tenant, users["astronomer"], semester, title="Supernova light curves",
                                   hours={"1m0": 12})  # fmt: skip
        submit_proposal(proposal)
        proposal = decide_proposal(proposal, approve=True, granted={"1m0": (10, 2)})
        yield tenant, users, proposal, target, window


def request_spec(target, window, **changes):
    spec = {"target_id": target.pk, "telescope_class": "1m0", "windows": [window],
            "configurations": [ConfigurationSpec("sinistro", "r", 300, 3), ConfigurationSpec("sinistro", "g", 300, 3)],
            "constraints": Constraints(min_lunar_distance_deg=0)}  # fmt: skip
    return RequestSpec(**{**spec, **changes})


def overhead_next_night():
    """RA and Dec of a point overhead at Teide at its next local midnight (01:06 UTC)."""
    now = datetime.now(timezone.utc)
    midnight = datetime(now.year, now.month, now.day, 1, 6, tzinfo=timezone.utc)
    if midnight < now + timedelta(hours=2):
        midnight += timedelta(days=1)
    teide = EarthLocation.from_geodetic(TEIDE["longitude_deg"], TEIDE["latitude_deg"], TEIDE["height_m"] * u.m)
    return Time(midnight).sidereal_time("apparent", longitude=teide.lon).deg, TEIDE["latitude_deg"]


def planned_from_now(tenant, users, count=2):
    """For live tests: the Teide 1-m, an approved proposal with ``count`` one-minute requests of
    a target up next night, windows from now on, and the plan they are in. Returns (proposal, plan)."""
    from scheduling.nightly import plan_night

    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        ra, dec = overhead_next_night()
        target = Target.objects.create(tenant=tenant, name="Overhead", ra_deg=ra, dec_deg=dec)
        now = datetime.now(timezone.utc)
        semester = create_semester(tenant, "now", now - timedelta(days=1), now + timedelta(days=30))
        proposal = create_proposal(tenant, users["astronomer"], semester, title="Live", hours={"1m0": 5})
        proposal = decide_proposal(submit_proposal(proposal), approve=True)
        spec = request_spec(target, (now + timedelta(minutes=5), now + timedelta(hours=24)),
                            configurations=[ConfigurationSpec("sinistro", "r", 60, 1)])  # fmt: skip
        add_request_group(proposal, users["astronomer"], name="live", requests=[spec] * count)
        return proposal, plan_night(tenant, time_limit_s=10)
