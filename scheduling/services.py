"""Asking the array for telescope time. Apps above scheduling ask through these functions and
keep their own record of why they asked; scheduling owns the request and its states."""

from django.db import IntegrityError, transaction

from portal.broadcast import send_latest
from portal.celery import send

from .models import FollowUpRequest, SchedulePlan


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
    transaction.on_commit(lambda: send("scheduling.tasks.plan_tenant_night", tenant_id, trigger))
