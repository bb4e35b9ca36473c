"""Asking the array for telescope time. Apps above scheduling ask through these functions and
keep their own record of why they asked; scheduling owns the request and its states."""

from django.db import IntegrityError, transaction

from portal.broadcast import send_latest
from portal.celery import app
from portal.shared_redis import REDIS_FAILURES, shared_redis

from .models import FollowUpRequest, SchedulePlan

# A queued re-plan whose worker was lost holds the next ones back this long at most (and the
# periodic plan comes every few minutes anyway).
REPLAN_QUEUED_S = 60


class FollowUpRefused(ValueError):
    """No request was made; the message says why."""


class AlreadyPending(FollowUpRefused):
    """The target has a pending request already (``pending``); the asker says who asked it."""

    def __init__(self, pending):
        super().__init__(f"a follow-up of {pending.target.name} is already pending")
        self.pending = pending


def request_follow_up(tenant_id, target, *, user=None, priority=FollowUpRequest.Priority.TOP, note=""):
    """A pending follow-up request for ``target``, or FollowUpRefused (AlreadyPending when the
    target has one waiting)."""
    if priority not in FollowUpRequest.Priority.values:
        raise FollowUpRefused(f"priority must be one of {', '.join(FollowUpRequest.Priority.values)}, got {priority!r}")
    try:
        with transaction.atomic():
            request = FollowUpRequest.objects.create(tenant_id=tenant_id, target=target, requested_by=user,
                                                     priority=priority, note=note[:500])  # fmt: skip
    except IntegrityError:
        pending = FollowUpRequest.objects.select_related("requested_by", "target").get(
            tenant_id=tenant_id, target=target, status=FollowUpRequest.Status.PENDING
        )
        raise AlreadyPending(pending) from None
    replan_after_commit(tenant_id, SchedulePlan.Trigger.FOLLOW_UP)
    return request


def night_group(tenant_id):
    return f"night-{tenant_id}"


def announce_night(tenant_id):
    """Tell the pages watching the tenant's night that its plan or a queue changed, once the
    change is committed (the page reads it back)."""
    transaction.on_commit(lambda: send_latest(night_group(tenant_id), {"type": "night.changed"}))


def replan_after_commit(tenant_id, trigger):
    """Re-plan the tenant's night once the change that calls for it is committed (the plan
    must see it), with the short time limit: telescopes are waiting."""
    transaction.on_commit(lambda: ask_for_replan(tenant_id, trigger))


def ask_for_replan(tenant_id, trigger, *, countdown=0):
    """Queue a re-plan of the tenant's night, unless one is queued and has not started: that one
    will see this change too. A rule that asks for follow-up of every match can make hundreds
    a minute; they make one re-plan after another, not hundreds. While Redis is unreachable
    every change queues its own."""
    try:
        first = shared_redis().set(_replan_key(tenant_id), trigger, nx=True, ex=REPLAN_QUEUED_S)
    except REDIS_FAILURES:
        first = True
    if first:
        app.tasks["scheduling.tasks.plan_tenant_night"].apply_async((tenant_id, trigger), countdown=countdown)


def replan_starting(tenant_id):
    """A queued re-plan starts reading: a change from now on asks for another."""
    try:
        shared_redis().delete(_replan_key(tenant_id))
    except REDIS_FAILURES:
        pass


def _replan_key(tenant_id):
    return f"arrayscope:scheduling:replan-queued:{tenant_id}"
