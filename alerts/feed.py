"""The live alert feed: what dashboards and partners' websockets receive, pushed through the
Channels layer as soon as an alert has been classified and run through the filters.

Each observatory has a group (every alert) and each filter one (its matches); a classified
batch goes to each group as one message. An alert is published once, in id order: it is
stored with a ``PendingAlert``, and publishing deletes that. A client that reconnects with the
last id it saw is sent every published alert after that id (``backlog``) before the live
ones. The consumer sends no id twice on one connection.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Q

from .deliveries import queue_deliveries
from .followup import follow_up_by_rule
from .models import Alert, FilterMatch, PendingAlert
from .packets import STAMPS
from .services import matching_filters, scores_by_alert

BACKLOG_LIMIT = 1000
RUN_LIMIT = 500  # alerts a classifier run takes at most


def tenant_group(tenant_id):
    return f"alerts-{tenant_id}"


def filter_group(filter_id):
    return f"alert-filter-{filter_id}"


def message(alert, scores, filters):
    """An alert as a dashboard draws a row of it (and a partner's client reads it)."""
    target = alert.alert_object.target
    return {
        "id": alert.pk, "object_id": alert.alert_object.object_id, "candidate_id": alert.candidate_id,
        "target": None if target is None else {"id": target.pk, "name": target.name},
        "ra_deg": alert.ra_deg, "dec_deg": alert.dec_deg, "mjd": alert.mjd, "band": alert.band,
        "observed_at": alert.observed_at.isoformat(), "magnitude": round(alert.magnitude, 3),
        "magnitude_error": round(alert.magnitude_error, 3), **_said(scores),
        "filters": [{"id": alert_filter.pk, "name": alert_filter.name} for alert_filter in filters],
        "received_at": alert.received_at.isoformat(),
    }  # fmt: skip


def _said(scores):
    """What the classifiers said of an alert, as its message carries it."""
    label = scores["label"]
    return {"real_bogus": scores["real"], "class": label,
            "class_probability": scores["probabilities"].get(label) if label else None}  # fmt: skip


def publish(tenant, alert_ids):
    """Record which filters each of ``alert_ids`` still pending met and push it to its
    observatory's group and each matching filter's group; alerts already published are left
    alone. Taking alerts off the pending queue and recording their matches is one
    transaction: a worker killed in between leaves them pending for the next, and of two
    workers publishing the same alert only one takes it."""
    with transaction.atomic():
        taken = _take_pending(tenant, alert_ids)
        alerts = list(for_messages(Alert.objects.filter(tenant=tenant, pk__in=taken)).order_by("pk"))
        if not alerts:
            return 0
        scores = scores_by_alert(tenant, [alert.pk for alert in alerts])
        matched = matching_filters(tenant, alerts, scores)
        FilterMatch.objects.bulk_create(
            [FilterMatch(tenant=tenant, alert_filter=alert_filter, alert=alert)
             for alert, filters in matched.items() for alert_filter in filters], ignore_conflicts=True,
        )  # fmt: skip
    # One message a group for the whole batch: a channel holds at most so many messages
    # (the layer's capacity) and drops the rest, so a burst must not be one message an alert.
    batches = {tenant_group(tenant.pk): []}
    for alert, filters in matched.items():
        said = message(alert, scores[alert.pk], filters)
        for group in (tenant_group(tenant.pk), *(filter_group(f.pk) for f in filters)):
            batches.setdefault(group, []).append(said)
    async_to_sync(_send_all)(batches, "alert.batch")  # one trip into the event loop for the batch
    hooked = {alert_filter for filters in matched.values() for alert_filter in filters if alert_filter.webhook_url}
    queue_deliveries(tenant, {alert_filter: batches[filter_group(alert_filter.pk)] for alert_filter in hooked})
    follow_up_by_rule(matched)
    return len(matched)


def _take_pending(tenant, alert_ids):
    """Delete the pending rows of ``alert_ids``; the ids of those there were."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PendingAlert._meta.db_table} WHERE tenant_id = %s AND alert_id = ANY(%s) "
                       "RETURNING alert_id", [tenant.pk, list(alert_ids)])  # fmt: skip
        return [alert_id for (alert_id,) in cursor.fetchall()]


def announce_scores(tenant, alert_ids):
    """Push what the classifiers now say of those of ``alert_ids`` already out (a newly
    promoted model has just classified them) to the feeds that carried them, so dashboards
    fill in the rows they show. Alerts still pending go out with their answers anyway; the
    filters are not run again (they ran as each alert went out)."""
    published = list(Alert.objects.filter(tenant=tenant, pk__in=alert_ids, pending__isnull=True)
                     .order_by("pk").values_list("pk", flat=True))  # fmt: skip
    if not published:
        return
    scores = scores_by_alert(tenant, published)
    said = {alert_id: {"id": alert_id, **_said(scores[alert_id])} for alert_id in published}
    batches = {tenant_group(tenant.pk): list(said.values())}
    matches = FilterMatch.objects.filter(tenant=tenant, alert_id__in=published)
    for alert_id, filter_id in matches.values_list("alert_id", "alert_filter_id"):
        batches.setdefault(filter_group(filter_id), []).append(said[alert_id])
    async_to_sync(_send_all)(batches, "alert.scores")


async def _send_all(batches, kind):
    layer = get_channel_layer()
    for group, alerts in batches.items():
        await layer.group_send(group, {"type": kind, "alerts": alerts})


def waiting(tenant, alert_ids, limit=RUN_LIMIT):
    """The alerts a classifier run should take, in id order: those asked for and every other
    one of the observatory still waiting to go out (the oldest ``limit``). A run is queued
    only when none is (see ``runs.run_started``); it takes them all."""
    pending = PendingAlert.objects.filter(tenant=tenant)
    oldest = pending.order_by("alert_id").values("alert_id")[:limit]
    return list(pending.filter(Q(alert_id__in=alert_ids) | Q(alert_id__in=oldest)).order_by("alert_id")
                .values_list("alert_id", flat=True))  # fmt: skip


def backlog(tenant, *, after, alert_filter=None, limit=BACKLOG_LIMIT):
    """Messages of the published alerts after id ``after``, oldest first: the tenant's, or
    one filter's matches."""
    return messages(tenant, published(tenant, alert_filter).filter(pk__gt=after).order_by("pk")[:limit])


def recent(tenant, *, alert_filter=None, count=100, before=None):
    """Messages of the newest ``count`` published alerts (below id ``before``, if given),
    oldest first: what a dashboard opens with before it listens, and its older pages."""
    alerts = published(tenant, alert_filter)
    if before is not None:
        alerts = alerts.filter(pk__lt=before)
    return messages(tenant, alerts.order_by("-pk")[:count])[::-1]


def published(tenant, alert_filter):
    alerts = Alert.objects.filter(tenant=tenant, pending__isnull=True)
    if alert_filter is not None:
        alerts = alerts.filter(filter_matches__alert_filter=alert_filter)
    return for_messages(alerts).prefetch_related("filter_matches__alert_filter")


def for_messages(alerts):
    """What a message and the filters read of an alert: not its stamps (a dashboard fetches
    those when a row is opened)."""
    return alerts.select_related("alert_object__target").defer(*(f"{name}_stamp" for name in STAMPS))


def messages(tenant, alerts):
    alerts = list(alerts)
    scores = scores_by_alert(tenant, [alert.pk for alert in alerts])
    return [message(alert, scores[alert.pk], [match.alert_filter for match in alert.filter_matches.all()])
            for alert in alerts]  # fmt: skip
