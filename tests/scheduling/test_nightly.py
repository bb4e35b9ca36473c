"""Tonight's plan from the database: requests and follow-ups into telescopes' queues, what
was left out and why, re-plans, and the independent checker."""

from datetime import timedelta

import pytest

from observations.models import Target
from portal.demo import load_site
from portal.models import Telescope
from scheduling import queues
from scheduling.checker import violations
from scheduling.models import FollowUpRequest, Request, ScheduledObservation, SchedulePlan
from scheduling.nightly import plan_night
from scheduling.proposals import ConfigurationSpec, SchedulingRefused, add_request_group
from scheduling.services import request_follow_up
from tests.scheduling.conftest import TEIDE, request_spec

HOUR = [ConfigurationSpec("sinistro", "r", 600, 5)]  # 5 × 10 min: 52 min 20 s with readouts and slew


def _plan(tenant, window, **options):
    return plan_night(tenant, now=window[0] - timedelta(hours=2), time_limit_s=10, **options)


def test_requests_land_in_the_telescopes_night_without_overlap(approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="deep field", priority=20,
                              requests=[request_spec(target, window, configurations=HOUR)] * 3)  # fmt: skip
    plan = _plan(tenant, window)
    queue = list(ScheduledObservation.objects.filter(plan=plan).order_by("start"))
    assert len(queue) == 3 and {o.request.group_id for o in queue} == {group.pk}
    assert all(later.start >= earlier.end for earlier, later in zip(queue, queue[1:])), "one at a time"
    assert all(window[0] <= o.start and o.end <= window[1] for o in queue)
    assert all(o.end - o.start == timedelta(seconds=3140) for o in queue), "exposures, readouts and slew"
    assert set(Request.objects.values_list("state", flat=True)) == {"scheduled"}
    assert plan.status == "optimal" and plan.objective == pytest.approx(3 * 20 * 3140 / 3600)
    assert plan.unscheduled == {} and violations(tenant, queue) == []


def test_what_does_not_fit_waits_with_its_reason_and_the_higher_priority_goes_first(approved):
    tenant, users, proposal, target, window = approved
    proposal.allocations.update(hours_granted=40)
    low = add_request_group(proposal, users["astronomer"], name="filler", priority=5,
                            requests=[request_spec(target, window, configurations=HOUR)] * 12)  # fmt: skip
    high = add_request_group(proposal, users["astronomer"], name="urgent", priority=50,
                             requests=[request_spec(target, window, configurations=HOUR)] * 2)  # fmt: skip
    plan = _plan(tenant, window)
    placed = ScheduledObservation.objects.filter(plan=plan)
    assert set(high.requests.values_list("state", flat=True)) == {"scheduled"}
    assert 2 < placed.count() < 14, "the target is high for part of the night only"
    waiting = low.requests.filter(state="pending")
    assert waiting.exists()
    assert {plan.unscheduled[f"request:{pk}"] for pk in waiting.values_list("pk", flat=True)} == {
        "outweighed: the slices it could take went to more priority × hours"}  # fmt: skip


def test_a_follow_up_enters_the_plan_first_and_a_re_plan_replaces_the_queue(approved):
    tenant, users, proposal, target, window = approved
    proposal.allocations.update(hours_granted=40)
    add_request_group(proposal, users["astronomer"], name="monitoring", priority=90,
                      requests=[request_spec(target, window, configurations=HOUR)] * 14)  # fmt: skip
    first = _plan(tenant, window)
    before = ScheduledObservation.objects.filter(plan=first).count()
    transient = Target.objects.create(tenant=tenant, name="AT 2027abc", ra_deg=target.ra_deg + 5, dec_deg=30)
    follow_up = request_follow_up(tenant.pk, transient)
    second = _plan(tenant, window, trigger=SchedulePlan.Trigger.FOLLOW_UP)
    queue = ScheduledObservation.objects.filter(state="planned")
    assert set(queue.values_list("plan_id", flat=True)) == {second.pk}, "the first plan's queue is replaced"
    assert queue.filter(follow_up=follow_up).count() == 1
    assert FollowUpRequest.objects.get(pk=follow_up.pk).status == "scheduled"
    assert queue.count() <= before + 1 and second.trigger == "follow_up"


def test_a_target_never_up_tonight_is_left_out_saying_so(approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="tonight", requests=[request_spec(target, window)])
    south = Target.objects.create(tenant=tenant, name="Deep south", ra_deg=target.ra_deg, dec_deg=-80)
    Request.objects.filter(group=group).update(target=south)  # as if it had been visible when it was asked
    plan = _plan(tenant, window)
    (reason,) = plan.unscheduled.values()
    assert reason.startswith("not observable for 35 min in a row within its windows tonight (at Teide: ")
    assert "below the horizon limit" in reason and not ScheduledObservation.objects.exists()


def test_the_checker_names_every_broken_rule(approved):
    tenant, users, proposal, target, window = approved
    load_site(
        tenant,
        {
            **TEIDE,
            "code": "sso",
            "name": "Siding Spring",
            "latitude_deg": -31.27,
            "longitude_deg": 149.06,
            "telescopes": [("0m4a", "SSO 0.4 m", 0.4, 29, 0.57, "kb", [])],
        },
    )
    group = add_request_group(proposal, users["astronomer"], name="checked",
                              requests=[request_spec(target, window)] * 2)  # fmt: skip
    first, second = group.requests.all()
    plan = _plan(tenant, window)
    at_noon = window[0] - timedelta(hours=8)
    small = Telescope.objects.get(code="0m4a")
    bad = [
        ScheduledObservation(tenant=tenant, plan=plan, telescope=small, request=first, start=window[0] + timedelta(
            hours=5), end=window[0] + timedelta(hours=5, minutes=40), priority=10),
        ScheduledObservation(tenant=tenant, plan=plan, telescope=first.scheduled.get().telescope, request=second,
                             start=at_noon, end=at_noon + timedelta(minutes=10), priority=10),
    ]  # fmt: skip
    found = violations(tenant, bad + list(ScheduledObservation.objects.filter(plan=plan)))
    text = "\n".join(found)
    assert f"request {first.pk}: asks for a 1m0 telescope, planned on 0m4a" in text
    assert f"request {first.pk}: 0m4a has no sinistro/r" in text
    assert f"request {first.pk} is planned twice" in text
    assert f"request {second.pk}: given 600 s, needs 1952 s" in text
    assert f"request {second.pk}: planned in twilight or daylight at Teide" in text
    assert f"request {second.pk}: {at_noon:%H:%M}–" in text and "is outside its windows" in text


def test_plans_of_past_weeks_go_unless_an_observation_was_made_from_them(approved):
    tenant, users, proposal, target, window = approved
    add_request_group(proposal, users["astronomer"], name="kept", requests=[request_spec(target, window)])
    observed = _plan(tenant, window)
    ScheduledObservation.objects.filter(plan=observed).update(state="completed")
    empty = _plan(tenant, window)
    SchedulePlan.objects.update(created_at=window[0] - timedelta(days=30))
    latest = _plan(tenant, window)
    assert set(SchedulePlan.objects.values_list("pk", flat=True)) == {observed.pk, latest.pk}, f"{empty.pk} went"


def test_a_rapid_response_group_goes_first_and_is_charged_to_the_rapid_response_hours(approved):
    tenant, users, proposal, target, window = approved  # 10 h granted on 1m0, 2 of them rapid response
    proposal.allocations.update(hours_granted=40)
    add_request_group(proposal, users["astronomer"], name="monitoring", priority=90,
                      requests=[request_spec(target, window, configurations=HOUR)] * 10)  # fmt: skip
    rapid = add_request_group(proposal, users["astronomer"], name="kilonova", priority=1,
                              observation_type="rapid_response",
                              requests=[request_spec(target, window, configurations=HOUR)])  # fmt: skip
    plan = _plan(tenant, window)
    first = ScheduledObservation.objects.filter(plan=plan).order_by("start").first()
    assert first.request.group == rapid, "ahead of priority 90, at the first slice it fits"
    with pytest.raises(SchedulingRefused, match="they need 2.62 h of rapid-response time on 1m0 and the proposal "
                                                "has 2.00 h of it left"):  # fmt: skip
        add_request_group(proposal, users["astronomer"], name="too much", observation_type="rapid_response",
                          requests=[request_spec(target, window, configurations=HOUR)] * 3)  # fmt: skip
    telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    queues.start(telescope, first.pk, now=first.start)
    queues.complete(telescope, first.pk, now=first.end)
    allocation = proposal.allocations.get()
    hours = (first.end - first.start).total_seconds() / 3600
    assert allocation.hours_used == pytest.approx(hours) and allocation.rapid_response_used == pytest.approx(hours)
    assert allocation.rapid_response_remaining == pytest.approx(2 - hours)
