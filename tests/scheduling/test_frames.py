"""Frames taken for a request are linked to its observation when they are ingested: by the
REQNUM keyword, or the keyword a site's header rule names."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from observations.ingest import ingest_frame
from observations.synthetic import make_frame
from portal.models import HeaderRule, Site, Telescope
from scheduling import queues
from scheduling.models import ObservationFrame, ScheduledObservation
from scheduling.nightly import plan_night
from scheduling.proposals import add_request_group
from tests.observations.conftest import to_bytes
from tests.scheduling.conftest import request_spec


def _frame(target, observation, **header):
    taken = observation.start.strftime("%Y-%m-%dT%H:%M:%S")
    hdu = make_frame(ra_deg=target.ra_deg, dec_deg=target.dec_deg, obs_time=taken, width=64, height=64, n_stars=5)
    for keyword, value in header.items():
        hdu.header[keyword] = value
    return to_bytes([hdu])


def test_frames_naming_a_request_are_linked_to_its_observation(approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="linked", requests=[request_spec(target, window)] * 2)
    plan = plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
    first, second = ScheduledObservation.objects.filter(plan=plan).order_by("start")
    telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    queues.start(telescope, first.pk)
    queues.complete(telescope, first.pk)
    ingest_frame(tenant, users["astronomer"], _frame(target, first, REQNUM=first.request_id), "a.fits")
    ingest_frame(tenant, users["astronomer"], _frame(target, first, REQNUM="none"), "b.fits")
    ingest_frame(tenant, users["astronomer"], _frame(target, second, REQNUM=second.request_id), "c.fits")
    assert [link.frame.original_name for link in ObservationFrame.objects.filter(observation=first)] == ["a.fits"]
    assert not ObservationFrame.objects.filter(observation=second).exists(), "not started: no frame is its yet"

    HeaderRule.objects.create(tenant=tenant, site=Site.objects.get(tenant=tenant, code="tfn"), keyword="REQNUM",
                              pattern="*", read_from="REQUEST")  # fmt: skip
    queues.start(telescope, second.pk)
    ingest_frame(tenant, users["astronomer"], _frame(target, second, REQUEST=second.request_id), "d.fits")
    assert [link.frame.original_name for link in ObservationFrame.objects.filter(observation=second)] == ["d.fits"]
    assert group.requests.count() == 2


def test_a_request_number_rule_names_a_keyword_and_maps_to_nothing_else(approved):
    tenant, users, proposal, target, window = approved
    site = Site.objects.get(tenant=tenant, code="tfn")
    rule = HeaderRule(tenant=tenant, site=site, keyword="REQNUM", pattern="*", filter_name="r")
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    said = refused.value.message_dict
    assert said["read_from"] == ["say which keyword holds the request number, e.g. REQNUM or REQUEST."]
    assert said["filter_name"] == ["a REQNUM rule says where the request number is, it does not map to a filter name."]
    assert str(HeaderRule(tenant=tenant, site=site, keyword="REQNUM", pattern="*", read_from="REQUEST")) == (
        "tfn: REQNUM '*' → request number in REQUEST"
    )
