"""A telescope works its queue through the API: next, start, complete or fail; completed time
is charged, a failure goes back in the queue, and a closed site gets nothing planned."""

from datetime import timedelta

import pytest

from portal.models import Site, Telescope
from portal.tenancy import tenant_context
from scheduling.checker import violations
from scheduling.models import Request, ScheduledObservation, SiteCondition, TimeAllocation
from scheduling.nightly import plan_night
from scheduling.proposals import ConfigurationSpec, add_request_group
from tests.conftest import api_client
from tests.scheduling.conftest import request_spec

SHORT = [ConfigurationSpec("sinistro", "r", 60, 2)]  # 2 × 1 min: 3 min 50 s with overheads


@pytest.fixture
def planned(approved):
    """Tonight's plan of three short requests on the Teide 1-m, and a client with an admin's key."""
    tenant, users, proposal, target, window = approved
    spec = request_spec(target, window, configurations=SHORT)
    add_request_group(proposal, users["astronomer"], name="short", requests=[spec] * 3)
    plan = plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
    telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    return tenant, users, plan, telescope, api_client(tenant, users["admin"])


def _post(client, observation, verb, **body):
    return client.post(f"/api/v1/scheduled-observations/{observation}/{verb}/", body, format="json")


def test_a_telescope_pulls_its_next_observation_makes_it_and_the_time_is_charged(planned):
    tenant, users, plan, telescope, client = planned
    queue = client.get(f"/api/v1/scheduled-observations/?telescope={telescope.pk}").json()["results"]
    assert len(queue) == 3 and [o["start"] for o in queue] == sorted(o["start"] for o in queue)
    upcoming = client.get(f"/api/v1/scheduled-observations/next/?telescope={telescope.pk}").json()["observation"]
    assert upcoming["id"] == queue[0]["id"] and upcoming["target"]["name"] == "Overhead"
    assert upcoming["configurations"] == [{"instrument": "sinistro", "filter": "r", "exposure_s": 60.0,
                                           "exposure_count": 2}]  # fmt: skip
    started = _post(client, upcoming["id"], "start", telescope=telescope.pk)
    assert started.status_code == 200 and started.json()["state"] == "started"
    assert client.get(f"/api/v1/scheduled-observations/next/?telescope={telescope.pk}").json()["observation"][
        "id"] == upcoming["id"], "the observation under way is what it should be doing"  # fmt: skip
    done = _post(client, upcoming["id"], "complete", telescope=telescope.pk)
    assert done.status_code == 200 and done.json()["state"] == "completed"
    with tenant_context(tenant):
        allocation = TimeAllocation.objects.get(proposal__request_groups__requests=upcoming["request"])
        assert allocation.hours_used == pytest.approx(230 / 3600), "its 3 min 50 s charged"
        assert Request.objects.get(pk=upcoming["request"]).state == "completed"
    after = client.get(f"/api/v1/scheduled-observations/next/?telescope={telescope.pk}").json()["observation"]
    assert after["id"] == queue[1]["id"]


def test_a_failure_is_not_charged_and_goes_back_in_the_queue(planned):
    tenant, users, plan, telescope, client = planned
    first = ScheduledObservation.objects.filter(plan=plan).order_by("start").first()
    _post(client, first.pk, "start", telescope=telescope.pk)
    failed = _post(client, first.pk, "fail", telescope=telescope.pk, reason="dome fault")
    assert failed.status_code == 200 and (failed.json()["state"], failed.json()["failure"]) == ("failed", "dome fault")
    with tenant_context(tenant):
        assert Request.objects.get(pk=first.request_id).state == "pending"
        assert TimeAllocation.objects.get(proposal=first.request.group.proposal).hours_used == 0


def test_bad_reports_are_refused_naming_the_field_and_change_nothing(planned, tenant_factory):
    tenant, users, plan, telescope, client = planned
    first, second = ScheduledObservation.objects.filter(plan=plan).order_by("start")[:2]
    other_site = Site.objects.create(tenant=tenant, code="two", name="Two", latitude_deg=0, longitude_deg=0,
                                     height_m=0)  # fmt: skip
    other = Telescope.objects.create(tenant=tenant, site=other_site, code="x", name="X", aperture_m=1,
                                     field_of_view_arcmin=10, pixel_scale_arcsec=1)  # fmt: skip
    stranger, strangers = tenant_factory()
    refusals = [
        (_post(client, first.pk, "start", telescope=other.pk), "telescope", "was given to another telescope, not x"),
        (_post(client, first.pk, "complete", telescope=telescope.pk), "state",
         "is planned; a telescope can complete only one that is started"),
        (_post(client, first.pk, "fail", telescope=telescope.pk), "reason", "say why the observation failed"),
        (_post(client, first.pk, "start", telescope=999999), "telescope", "no telescope 999999 in this observatory"),
        (_post(api_client(stranger, strangers["admin"]), first.pk, "start", telescope=telescope.pk), "telescope",
         "no telescope"),
    ]  # fmt: skip
    for response, field, words in refusals:
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"] and words in str(response.json()["errors"][field]), response.json()
    _post(client, first.pk, "start", telescope=telescope.pk)
    busy = _post(client, second.pk, "start", telescope=telescope.pk)
    assert busy.status_code == 400 and "has an observation under way" in str(busy.json()["errors"]["observation"])
    with tenant_context(tenant):
        states = list(ScheduledObservation.objects.filter(plan=plan).order_by("start").values_list("state", flat=True))
    assert states == ["started", "planned", "planned"]
    read_only = api_client(tenant, users["admin"], scope="read")
    assert _post(read_only, second.pk, "start", telescope=telescope.pk).status_code == 403


def test_a_site_closed_for_clouds_gets_nothing_until_it_opens(planned):
    tenant, users, plan, telescope, client = planned
    closed = client.post("/api/v1/site-conditions/", {"site": telescope.site_id, "open": False, "reason": "clouds"},
                         format="json")  # fmt: skip
    assert closed.status_code == 201 and closed.json()["open"] is False
    with tenant_context(tenant):  # what the re-plan the change queued runs (a request ends with no tenant active)
        replanned = plan_night(tenant, now=plan.start, time_limit_s=10)
        assert not ScheduledObservation.objects.filter(plan=replanned).exists()
    assert set(replanned.unscheduled.values()) == {"not observable for 5 min in a row within its windows tonight "
                                                   "(at Teide: the site is closed (clouds))"}  # fmt: skip
    client.post("/api/v1/site-conditions/", {"site": telescope.site_id, "open": True}, format="json")
    with tenant_context(tenant):
        reopened = plan_night(tenant, now=plan.start, time_limit_s=10)
        assert ScheduledObservation.objects.filter(plan=reopened).count() == 3


def test_a_seeing_worse_than_a_requests_limit_keeps_it_away_while_the_measurement_holds(planned):
    tenant, users, plan, telescope, client = planned
    with tenant_context(tenant):
        sharp = Request.objects.order_by("pk").first()
        Request.objects.filter(pk=sharp.pk).update(max_seeing_arcsec=1.2)
    refused = client.post("/api/v1/site-conditions/", {"site": telescope.site_id, "open": True, "seeing_arcsec": -1},
                          format="json")  # fmt: skip
    assert refused.status_code == 400 and "seeing_arcsec" in refused.content.decode()
    reported = client.post("/api/v1/site-conditions/", {"site": telescope.site_id, "open": True, "seeing_arcsec": 2.5},
                           format="json")  # fmt: skip
    assert reported.status_code == 201 and reported.json()["seeing_arcsec"] == 2.5
    with tenant_context(tenant):
        dusk = ScheduledObservation.objects.filter(plan=plan).order_by("start").first().start  # the first it is up
        SiteCondition.objects.filter(site_id=telescope.site_id).update(seeing_at=dusk - timedelta(hours=1))
        replanned = plan_night(tenant, now=plan.start, time_limit_s=10)
        placed = ScheduledObservation.objects.filter(plan=replanned)
        assert placed.count() == 3, "the other two are not held back"
        waited = placed.get(request=sharp)
        assert waited.start >= dusk + timedelta(hours=1), "not while the 2.5″ measurement holds"
        assert placed.exclude(request=sharp).order_by("start").first().start == dusk
        waited.start, waited.end = dusk, dusk + timedelta(minutes=5)
        assert any("planned while the seeing at Teide (2.5″) is worse than its limit (1.2″)" in found
                   for found in violations(tenant, [waited]))  # fmt: skip
