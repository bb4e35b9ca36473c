"""Webhook deliveries: a filter's new matches recorded as a delivery, POSTed by a default
worker once the transaction commits, and each attempt's outcome recorded for the filter's
page. The body is JSON, ``{"filter": {"id", "name"}, "alerts": [...]}``, each alert as the
live feed sends it, signed as ``webhook_policy`` says. A delivery that fails (no answer, or
not a 2xx) is tried again after 10 s, 20 s, 40 s … up to ALERT_WEBHOOK_ATTEMPTS attempts.
The address is checked again before each attempt (it may resolve elsewhere than when the
filter was saved), and redirects are not followed."""

import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.celery import send

from .models import WebhookDelivery
from .validators import destination_refusal
from .webhook_policy import signed_headers

TIMEOUT_SECONDS = 10


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is the receiver's answer, not a new destination


_OPENER = urllib.request.build_opener(_NoRedirects)


def queue_deliveries(tenant, messages_by_filter):
    """A delivery for each filter with a webhook that has new matches ({filter: [messages]}),
    sent by a default worker once this transaction commits."""
    for alert_filter, messages in messages_by_filter.items():
        if not alert_filter.webhook_url or not messages:
            continue
        named = {"id": alert_filter.pk, "name": alert_filter.name}
        # Each alert names this filter only: other people's filters are theirs.
        body = json.dumps({"filter": named, "alerts": [{**message, "filters": [named]} for message in messages]})
        delivery = WebhookDelivery.objects.create(
            tenant=tenant, alert_filter=alert_filter, url=alert_filter.webhook_url,
            alert_ids=[message["id"] for message in messages], payload=body.encode(),
        )  # fmt: skip
        transaction.on_commit(lambda pk=delivery.pk: send("alerts.tasks.deliver_webhook", tenant.pk, pk))


def deliver(delivery_id):
    """The worker's turn at a delivery: one attempt unless it was settled already (a task
    redelivered after it ran). Returns the seconds to wait before the next attempt, or None."""
    delivery = WebhookDelivery.objects.select_related("alert_filter").get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.PENDING:
        return None
    return attempt(delivery)


def attempt(delivery):
    """POST the delivery once. Returns None when delivered or out of attempts, else the
    seconds to wait before the next attempt."""
    delivery.attempts += 1
    body = bytes(delivery.payload)
    headers = signed_headers(delivery.pk, delivery.alert_filter.webhook_secret, body, str(int(time.time())))
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers=headers)
    refusal = destination_refusal(delivery.url)
    if refusal:  # not retried: the address will not change its nature
        delivery.status, delivery.last_error = WebhookDelivery.Status.FAILED, refusal[:500]
        delivery.save(update_fields=["attempts", "status", "last_error"])
        return None
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            delivery.response_status = response.status
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, timezone.now()
        delivery.last_error = ""
    except urllib.error.HTTPError as error:
        delivery.response_status, delivery.last_error = error.code, f"the receiver answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        delivery.last_error = f"could not reach {delivery.url} ({reason})"[:500]
    wait = None
    if delivery.status != WebhookDelivery.Status.DELIVERED:
        if delivery.attempts >= settings.ALERT_WEBHOOK_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            wait = settings.ALERT_WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
    delivery.save(update_fields=["attempts", "status", "response_status", "last_error", "delivered_at"])
    return wait
