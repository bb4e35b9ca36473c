"""Follow-up: turning an alert into a request to observe its target soon, by an admin's or
astronomer's click or API call, or by their filter's rule on every match.

Alerts ask and scheduling owns the request (``scheduling.services``): it waits, pending, until
the scheduler takes it into a telescope's queue. This side keeps which alert and which
filter's rule asked (``AlertFollowUp``). A target has at most one pending request: a second
click says who asked first, and a rule that matches again adds nothing.
"""

from django.db import transaction

from portal.permissions import may, role_of
from scheduling.models import FollowUpRequest
from scheduling.services import AlreadyPending, FollowUpRefused
from scheduling.services import request_follow_up as request_observation

from .models import AlertFollowUp

# Who may ask for telescope time is "alerts.follow_up" in portal.permissions.


def request_follow_up(alert, *, user=None, rule=None, priority=FollowUpRequest.Priority.TOP, note=""):
    """A pending follow-up request for ``alert``'s target, or FollowUpRefused."""
    target = alert.alert_object.target
    if target is None:
        raise FollowUpRefused(f"alert {alert.pk} has no target to observe (its target was deleted)")
    try:
        with transaction.atomic():
            request = request_observation(alert.tenant_id, target, user=user, priority=priority, note=note)
            AlertFollowUp.objects.create(tenant_id=alert.tenant_id, request=request, alert=alert, rule=rule)
            return request
    except AlreadyPending as refusal:
        raise FollowUpRefused(f"{refusal}: {asked_by(refusal.pending)}") from None


def asked_by(request):
    """Who asked for a request and when, as people read it."""
    if request.requested_by:
        who = request.requested_by.username
    else:
        link = AlertFollowUp.objects.select_related("rule").filter(request=request).first()
        who = f"the rule of filter “{link.rule if link else None}”"
    return f"asked by {who} at {request.created_at:%Y-%m-%d %H:%M} UTC"


def follow_up_by_rule(matched):
    """Requests for the alerts whose matching filters ask for automatic follow-up
    ({alert: [filters]}); targets already pending are left as they are. Returns the new ones.

    A rule asks for telescope time in its owner's name, so it asks only while the owner may
    ("alerts.follow_up", read now): a volunteer's or partner's filter, or one whose owner has
    since been demoted or removed, asks nothing."""
    made, may_ask = [], {}
    for alert, filters in matched.items():
        rule = next((f for f in filters if f.auto_follow_up and _owner_may_ask(f, may_ask)), None)
        if rule is None:
            continue
        try:
            made.append(request_follow_up(alert, rule=rule, note=f"matched filter “{rule.name}”"))
        except FollowUpRefused:
            continue
    return made


def _owner_may_ask(alert_filter, known):
    """Whether ``alert_filter``'s owner may ask for follow-up now; ``known`` caches by owner for one batch."""
    if alert_filter.user_id not in known:
        role = role_of(alert_filter.user, alert_filter.tenant)
        known[alert_filter.user_id] = may(role, "alerts.follow_up")
    return known[alert_filter.user_id]
