"""The scheduling pages: tonight's Gantt chart, what was left out and why, sites opened and
closed, and proposals with their hours."""

import json
from datetime import timedelta

from observations.models import Target
from portal.models import Membership, Site
from portal.tenancy import tenant_context
from scheduling.models import Request, RequestGroup, Semester, SiteCondition, TimeAllocation
from scheduling.nightly import plan_night
from scheduling.proposals import ConfigurationSpec, add_request_group
from tests.scheduling.conftest import request_spec


def test_the_night_page_draws_each_telescopes_queue_and_says_why_the_rest_waits(client, approved):
    tenant, users, proposal, target, window = approved
    proposal.allocations.update(hours_granted=40)
    add_request_group(proposal, users["astronomer"], name="many", priority=30,
                      requests=[request_spec(target, window, configurations=[ConfigurationSpec("sinistro", "r", 600,
                                                                                                5)])] * 14)  # fmt: skip
    plan = plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/scheduling/night/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"placed of {plan.candidates} asked for" in text and "no plan could be worth more than" in text
    gantt = json.loads(page.context["gantt"])
    assert {trace["name"] for trace in gantt["data"]} == {"planned"}
    assert set(gantt["data"][0]["y"]) == {"Teide 1.0 m (tfn)"}
    assert "outweighed: the slices it could take went to more priority × hours" in text


def test_staff_close_a_site_from_the_page_and_a_volunteer_cannot(client, approved):
    tenant, users, proposal, target, window = approved
    site = Site.objects.get(tenant=tenant, code="tfn")
    client.force_login(users["astronomer"])
    response = client.post(f"/t/{tenant.slug}/scheduling/night/sites/{site.pk}/", {"open": "0", "reason": "clouds"})
    assert response.status_code == 302
    with tenant_context(tenant):  # a request ends with no tenant active
        condition = SiteCondition.objects.get(site=site)
    assert (condition.open, condition.reason, condition.changed_by) == (False, "clouds", users["astronomer"])
    assert "Closed: clouds" in client.get(f"/t/{tenant.slug}/scheduling/night/").content.decode()
    with tenant_context(tenant):
        Membership.objects.filter(tenant=tenant, user=users["astronomer"]).update(role="volunteer")
    refused = client.post(f"/t/{tenant.slug}/scheduling/night/sites/{site.pk}/", {"open": "1"})
    with tenant_context(tenant):
        assert refused.status_code == 403 and not SiteCondition.objects.get(site=site).open


def test_the_proposals_page_shows_hours_granted_used_and_left(client, approved):
    tenant, users, proposal, target, window = approved
    proposal.allocations.update(hours_used=2.5)
    client.force_login(users["astronomer"])
    text = client.get(f"/t/{tenant.slug}/scheduling/proposals/").content.decode()
    assert "Supernova light curves" in text and "Approved" in text
    assert '<meter min="0" max="10.0" value="2.5"></meter>' in text and "2.5 / 10.0 h, 7.5 left" in text


def test_a_proposal_is_written_submitted_reviewed_and_approved_on_the_pages(client, approved):
    tenant, users, _, _, _ = approved
    base = f"/t/{tenant.slug}/scheduling/proposals"
    client.force_login(users["admin"])
    opened = client.post(f"{base}/", {"code": "2027A", "start": "2027-02-01", "end": "2027-07-31"})
    assert opened.status_code == 302
    again = client.post(f"{base}/", {"code": "2027A", "start": "2027-02-01", "end": "2027-07-31"})
    assert "this observatory already has a semester 2027A" in again.content.decode()
    with tenant_context(tenant):
        semester = Semester.objects.get(code="2027A")
    client.force_login(users["astronomer"])
    made = client.post(f"{base}/new/", {"semester": semester.pk, "title": "Ultra-diffuse galaxies", "hours_1m0": "12",
                                        "co_investigators": [users["admin"].pk]})  # fmt: skip
    assert made.status_code == 302, made.content.decode()[:2000]
    detail = made["Location"]
    assert client.post(detail, {"step": "review", "grade": "1", "rank": "1"}).status_code == 403, "astronomers submit"
    client.post(detail, {"step": "submit"})
    assert "Submitted" in client.get(detail).content.decode()
    client.force_login(users["admin"])
    client.post(detail, {"step": "review", "grade": "1.5", "rank": "2"})
    client.post(detail, {"step": "decide", "approve": "1", "granted_1m0": "10", "rapid_1m0": "2"})
    text = client.get(detail).content.decode()
    assert "Approved · grade 1.5 · rank 2" in text and "with " + users["admin"].username in text
    with tenant_context(tenant):
        allocation = TimeAllocation.objects.get(proposal__title="Ultra-diffuse galaxies")
    assert (allocation.hours_requested, allocation.hours_granted, allocation.rapid_response_hours) == (12, 10, 2)
    resubmitted = client.post(detail, {"step": "submit"}, follow=True)
    assert "only the proposal&#x27;s PI submits it" in resubmitted.content.decode()


def test_a_requests_page_shows_when_its_target_is_up_and_where_it_stands(client, approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="one", requests=[request_spec(target, window)])
    plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
    (asked,) = group.requests.all()
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/scheduling/requests/{asked.pk}/")
    assert page.status_code == 200
    traces = {trace["name"] for trace in json.loads(page.context["visibility"])["data"]}
    assert {"Teide: altitude", "Teide: observable", "Teide: Sun"} <= traces
    text = page.content.decode()
    assert "Overhead" in text and "Teide 1.0 m (tfn)" in text and "Planned" in text and "Scheduled" in text
    assert f"/scheduling/requests/{asked.pk}/" in client.get(f"/t/{tenant.slug}/scheduling/proposals/{proposal.pk}/"
                                                             ).content.decode()  # fmt: skip


def test_the_proposals_page_title_is_only_its_name(client, approved):
    tenant, users, _, _, _ = approved
    client.force_login(users["admin"])
    text = client.get(f"/t/{tenant.slug}/scheduling/proposals/").content.decode()
    assert text.count('id="semester-form"') == 1 and "<title>Proposals" in text


def test_the_pi_cancels_a_request_and_it_leaves_the_queue(client, approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="two", requests=[request_spec(target, window)] * 2)
    plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
    first, second = group.requests.order_by("pk")
    client.force_login(users["astronomer"])
    page = f"/t/{tenant.slug}/scheduling/requests/{first.pk}/"
    assert client.post(page).status_code == 302
    again = client.post(page, follow=True).content.decode()
    assert f"request {first.pk} is cancelled; only a pending or scheduled one can be cancelled" in again
    with tenant_context(tenant):
        assert Request.objects.get(pk=first.pk).state == "cancelled"
        assert not first.scheduled.exists() and second.scheduled.filter(state="planned").exists()
        replanned = plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10)
        assert set(replanned.observations.values_list("request_id", flat=True)) == {second.pk}
        Membership.objects.filter(tenant=tenant, user=users["astronomer"]).update(role="volunteer")
    assert client.post(f"/t/{tenant.slug}/scheduling/requests/{second.pk}/").status_code == 403


def _group_form(target_name, window, **request):
    """What the new-request-group page posts: the group, one request filled in, and the two
    spare requests as a browser sends them untouched (each field's default)."""
    blank = {"telescope_class": "1m0", "instrument": "sinistro", "filter_1": "g", "count_1": "1", "filter_2": "",
             "count_2": "1", "filter_3": "", "count_3": "1", "jitter_hours": "2.0", "max_airmass": "1.6",
             "min_lunar_distance_deg": "30", "max_lunar_illumination": "1.0"}  # fmt: skip
    filled = {**blank, "target": target_name, "filter_1": "r", "exposure_1": "300", "count_1": "3", "filter_2": "g",
              "exposure_2": "120", "min_lunar_distance_deg": "0", "window_start": f"{window[0]:%Y-%m-%dT%H:%M}",
              "window_end": f"{window[1]:%Y-%m-%dT%H:%M}", **request}  # fmt: skip
    data = {"name": "Light curve", "priority": "20", "observation_type": "normal", "requests-TOTAL_FORMS": "3",
            "requests-INITIAL_FORMS": "0", "requests-MIN_NUM_FORMS": "1", "requests-MAX_NUM_FORMS": "20"}  # fmt: skip
    for number, fields in enumerate((filled, blank, blank)):
        data.update({f"requests-{number}-{name}": value for name, value in fields.items()})
    return data


def test_the_pi_makes_a_request_group_on_its_page_and_a_cadence_makes_a_visit_a_night(client, approved):
    tenant, users, proposal, target, window = approved
    client.force_login(users["astronomer"])
    detail = client.get(f"/t/{tenant.slug}/scheduling/proposals/{proposal.pk}/").content.decode()
    page = f"/t/{tenant.slug}/scheduling/proposals/{proposal.pk}/groups/new/"
    assert f'href="{page}"' in detail, "the approved proposal's page links to the group form"
    form = client.get(page).content.decode()
    assert "10.00 h left on 1m0" in form and 'value="1.6"' in form, "the hours left, LCO's defaults filled in"
    response = client.post(page, _group_form("overhead", window), follow=True)  # a name in any case
    assert "Light curve: 1 request in the queue" in response.content.decode()
    with tenant_context(tenant):
        (group,) = proposal.request_groups.all()
        (asked,) = group.requests.all()
        assert (group.name, group.priority, asked.target, asked.max_airmass) == ("Light curve", 20, target, 1.6)
        assert [(c.filter_name, c.exposure_s, c.exposure_count) for c in asked.configurations.order_by("order")] == [
            ("r", 300, 3), ("g", 120, 1)]  # fmt: skip
        assert asked.windows.get().start == window[0]
    start = window[0]
    three_nights = (start, start + timedelta(days=2, hours=1))
    client.post(page, _group_form("Overhead", three_nights, cadence_hours="24", jitter_hours="10"))
    with tenant_context(tenant):
        cadence = proposal.request_groups.order_by("pk").last().requests.all()
        visits = sorted(cadence.values_list("windows__start", flat=True))
        assert [visit - start for visit in visits] == [timedelta(hours=hours) for hours in (-5, 19, 43)]


def test_a_request_the_sky_or_the_hours_refuse_is_shown_on_its_field_and_nothing_is_stored(client, approved):
    tenant, users, proposal, target, window = approved
    with tenant_context(tenant):
        Target.objects.create(tenant=tenant, name="Deep south", ra_deg=target.ra_deg, dec_deg=-80)
    client.force_login(users["astronomer"])
    page = f"/t/{tenant.slug}/scheduling/proposals/{proposal.pk}/groups/new/"
    cases = [
        ({"target": "Deep south"}, "Deep south is not observable in any of its windows: it never rises above 15°"),
        ({"target": "Nowhere"}, "No target of that name or alias in this observatory"),
        ({"filter_2": "Halpha"}, "Select a valid choice. Halpha is not one of the available choices."),
        ({"instrument": "sinistro", "exposure_1": "-3"}, "Ensure this value is greater than or equal to 0.001."),
        ({"exposure_1": "3000", "count_1": "14"}, "they need 11.77 h on 1m0 and the proposal has 10.00 h of it left"),
        ({"cadence_hours": "1", "jitter_hours": "3"}, "window is more than 0 hours and at most the period"),
    ]  # fmt: skip
    for changes, message in cases:
        response = client.post(page, _group_form("Overhead", window, **changes))
        assert response.status_code == 200 and message in response.content.decode(), changes
    with tenant_context(tenant):
        assert not RequestGroup.objects.exists() and not Request.objects.exists()
        Membership.objects.filter(tenant=tenant, user=users["astronomer"]).update(role="volunteer")
    assert client.get(page).status_code == 403
