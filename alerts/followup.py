"""Follow-up: turning an alert into a request to observe its target soon, by an astronomer's
click (or a partner's API call) or by a filter's rule on every match.

Requests wait as pending target-of-opportunity requests until the scheduler takes them into
a telescope's queue. A target has at most one pending request: a second click says who
asked first, and a rule that matches again adds nothing.
"""

from django.db import IntegrityError, transaction

from .models import FollowUpRequest

# Who may ask for telescope time is "alerts.follow_up" in portal.permissions.


class FollowUpRefused(ValueError):
    """No request was made; the message says why."""


def request_follow_up(alert, *, user=None, rule=None, priority=FollowUpRequest.Priority.TOP, note=""):
    """A pending follow-up request for ``alert``'s target, or FollowUpRefused."""
    target = alert.alert_object.target
    if target is None:
        raise FollowUpRefused(f"alert {alert.pk} has no target to observe (its target was deleted)")
    if priority not in FollowUpRequest.Priority.values:
        raise FollowUpRefused(f"priority must be one of {', '.join(FollowUpRequest.Priority.values)}, got {priority!r}")
    try:
        with transaction.atomic():
            return FollowUpRequest.objects.create(
                tenant_id=alert.tenant_id, target=target, alert=alert, requested_by=user, rule=rule,
                priority=priority, note=note[:500],
            )  # fmt: skip
    except IntegrityError:
        pending = FollowUpRequest.objects.select_related("requested_by", "rule").get(
            tenant_id=alert.tenant_id, target=target, status=FollowUpRequest.Status.PENDING
        )
        raise FollowUpRefused(f"a follow-up of {target.name} is already pending: {asked_by(pending)}") from None


def asked_by(request):
    """Who asked for a request and when, as people read it."""
    who = request.requested_by.username if request.requested_by else f"the rule of filter “{request.rule}”"
    return f"asked by {who} at {request.created_at:%Y-%m-%d %H:%M} UTC"


def follow_up_by_rule(matched):
    """Requests for the alerts whose matching filters ask for automatic follow-up
    ({alert: [filters]}); targets already pending are left as they are. Returns the new ones."""
    made = []
    for alert, filters in matched.items():
        rule = next((alert_filter for alert_filter in filters if alert_filter.auto_follow_up), None)
        if rule is None:
            continue
        try:
            made.append(request_follow_up(alert, rule=rule, note=f"matched filter “{rule.name}”"))
        except FollowUpRefused:
            continue
    return made
