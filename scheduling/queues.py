"""Telescopes and their queues: what to observe next, and what they report back.

A telescope's control software asks for its next observation, says when it starts one, and
reports it completed or failed. Completed time is charged to the request's allocation;
a failure puts the request (or follow-up) back in the queue and re-plans the night. A site
reported closed (weather) gets nothing in the plan until it reports open again; each change
re-plans. Every report is checked against the row locked: a telescope reporting on an
observation it was not given, or out of order, is refused naming the field, and nothing
changes.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import (
    FollowUpRequest,
    Request,
    RequestGroup,
    ScheduledObservation,
    SchedulePlan,
    SiteCondition,
    TimeAllocation,
)
from .proposals import SchedulingRefused
from .services import announce_night, replan_after_commit

State = ScheduledObservation.State


def queue_of(telescope, now=None):
    """The telescope's observation under way (if any) and what is planned for it from now, in order."""
    now = now or timezone.now()
    return (ScheduledObservation.objects.filter(telescope=telescope, end__gt=now, state__in=[State.PLANNED,
                                                                                              State.STARTED])
            .select_related("request__target", "follow_up__target").prefetch_related("request__configurations")
            .order_by("start"))  # fmt: skip


def next_for(telescope, now=None):
    """What the telescope should be doing: the observation it has started, else the next one
    planned (it may start later than now: the telescope waits for it), else None."""
    queue = queue_of(telescope, now)
    return queue.filter(state=State.STARTED).first() or queue.filter(state=State.PLANNED).first()


def start(telescope, observation_id, now=None):
    now = now or timezone.now()
    with transaction.atomic():
        observation = _given(telescope, observation_id, {State.PLANNED}, "start")
        if telescope.scheduled_observations.filter(state=State.STARTED).exclude(pk=observation.pk).exists():
            raise SchedulingRefused("observation", f"{telescope.code} has an observation under way: complete or fail "
                                                   "it first")  # fmt: skip
        observation.state, observation.started_at = State.STARTED, now
        observation.save(update_fields=["state", "started_at"])
        announce_night(telescope.tenant_id)
    return observation


def complete(telescope, observation_id, now=None):
    """The observation is done: the time it held the telescope in the plan is charged to the
    allocation (what the scheduler checked the allocation against; a telescope's clock does
    not change it), and the request (or follow-up) is complete."""
    now = now or timezone.now()
    with transaction.atomic():
        observation = _given(telescope, observation_id, {State.STARTED}, "complete")
        observation.state, observation.finished_at = State.COMPLETED, now
        observation.save(update_fields=["state", "finished_at"])
        if observation.request_id:
            request = observation.request
            Request.objects.filter(pk=request.pk).update(state=Request.State.COMPLETED)
            hours = (observation.end - observation.start).total_seconds() / 3600
            rapid = request.group.observation_type == RequestGroup.ObservationType.RAPID_RESPONSE
            TimeAllocation.objects.filter(proposal_id=request.group.proposal_id,
                                          telescope_class=request.telescope_class).update(
                hours_used=F("hours_used") + hours,
                rapid_response_used=F("rapid_response_used") + (hours if rapid else 0))  # fmt: skip
        else:
            FollowUpRequest.objects.filter(pk=observation.follow_up_id).update(status=FollowUpRequest.Status.OBSERVED)
        announce_night(telescope.tenant_id)
    return observation


def fail(telescope, observation_id, reason, now=None):
    """The observation could not be made (``reason``, the telescope's words): nothing is
    charged, and what it was for goes back in the queue, which is planned again."""
    now = now or timezone.now()
    reason = str(reason or "").strip()
    if not reason:
        raise SchedulingRefused("reason", "say why the observation failed (it is shown to the astronomer)")
    with transaction.atomic():
        observation = _given(telescope, observation_id, {State.PLANNED, State.STARTED}, "fail")
        observation.state, observation.finished_at, observation.failure = State.FAILED, now, reason[:500]
        observation.save(update_fields=["state", "finished_at", "failure"])
        if observation.request_id:
            Request.objects.filter(pk=observation.request_id).update(state=Request.State.PENDING)
        else:
            FollowUpRequest.objects.filter(pk=observation.follow_up_id).update(status=FollowUpRequest.Status.PENDING)
        announce_night(telescope.tenant_id)
        replan_after_commit(telescope.tenant_id, SchedulePlan.Trigger.FAILED)
    return observation


def cancel_request(request):
    """The request is no longer wanted: its planned observations leave the queues, and the night
    is planned again without it. One under way, completed or already cancelled is refused."""
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        if locked.state not in (Request.State.PENDING, Request.State.SCHEDULED):
            raise SchedulingRefused("state", f"request {locked.pk} is {locked.get_state_display().lower()}; only a "
                                             "pending or scheduled one can be cancelled")  # fmt: skip
        if locked.scheduled.filter(state=State.STARTED).exists():
            raise SchedulingRefused("state", f"request {locked.pk} is being observed now: a telescope has started it")
        locked.scheduled.filter(state=State.PLANNED).delete()
        locked.state = Request.State.CANCELLED
        locked.save(update_fields=["state"])
        announce_night(locked.tenant_id)
        replan_after_commit(locked.tenant_id, SchedulePlan.Trigger.CANCELLED)
    return locked


def set_site_condition(site, *, open, reason="", seeing_arcsec=None, user=None):
    """Record whether ``site`` can observe, and the seeing measured there now (None: not
    reported, the last measurement stands); a change re-plans the night (a closed site's
    telescopes get nothing planned until it opens again; a seeing that moved by at least
    ``SCHEDULING_SEEING_REPLAN_ARCSEC`` changes which requests may go there)."""
    now = timezone.now()
    with transaction.atomic():
        condition, _ = SiteCondition.objects.select_for_update().get_or_create(tenant_id=site.tenant_id, site=site)
        changed = condition.open != open
        if seeing_arcsec is not None:
            before = condition.seeing_arcsec
            changed |= before is None or abs(before - seeing_arcsec) >= settings.SCHEDULING_SEEING_REPLAN_ARCSEC
            condition.seeing_arcsec, condition.seeing_at = seeing_arcsec, now
        condition.open, condition.reason, condition.changed_by = open, str(reason)[:200], user
        condition.changed_at = now
        condition.save()
        if changed:
            replan_after_commit(site.tenant_id, SchedulePlan.Trigger.WEATHER)
    return condition


def _given(telescope, observation_id, states, verb):
    """The observation, locked, if it was given to ``telescope`` and is in one of ``states``."""
    observation = (ScheduledObservation.objects.select_for_update(of=("self",)).select_related("request__group")
                   .filter(tenant_id=telescope.tenant_id, pk=observation_id).first())  # fmt: skip
    if observation is None:
        raise SchedulingRefused(
            "observation",
            f"no observation {observation_id!r} in this observatory's queues "
            "(a re-plan replaces what was not started: ask for the next one)",
        )
    if observation.telescope_id != telescope.pk:
        raise SchedulingRefused("telescope", f"observation {observation.pk} was given to another telescope, not "
                                             f"{telescope.code}")  # fmt: skip
    if observation.state not in states:
        raise SchedulingRefused("state", f"observation {observation.pk} is {observation.get_state_display().lower()}; "
                                         f"a telescope can {verb} only one that is "
                                         f"{' or '.join(State(s).label.lower() for s in sorted(states))}")  # fmt: skip
    return observation
