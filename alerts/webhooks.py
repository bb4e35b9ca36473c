"""Webhooks: a filter's matches POSTed to its owner's URL as they are published, signed so the
receiver can tell they came from this portal and were not replayed.

The body is JSON: ``{"filter": {"id", "name"}, "alerts": [...]}``, each alert as the live feed
sends it. Headers:

    X-Arrayscope-Delivery   the delivery's id (the same on every retry: receivers dedupe on it)
    X-Arrayscope-Timestamp  Unix seconds when this attempt was signed
    X-Arrayscope-Signature  sha256=HMAC-SHA256(secret, "<timestamp>.<body>") in hex

A delivery that fails (no answer, or not a 2xx) is tried again after 10 s, 20 s, 40 s … up to
ALERT_WEBHOOK_ATTEMPTS attempts; each delivery records its outcome for the filter's page.

A webhook is a URL anyone in an observatory can make the portal's workers call, so it must
not lead into the portal's own network (the database, Redis, a cloud metadata service):
addresses that are not global are refused when the filter is saved and again before each
attempt, and redirects are not followed. ALERT_WEBHOOK_ALLOW_PRIVATE lifts this for a portal
whose receivers live on its own network (and for the tests).
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import WebhookDelivery

TIMEOUT_SECONDS = 10
USER_AGENT = "Arrayscope-Webhook/1"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is the receiver's answer, not a new destination


_OPENER = urllib.request.build_opener(_NoRedirects)


def refused_destination(url):
    """Why the portal will not call ``url`` (it leads inside its own network), or None. A
    name that does not resolve now is left to the attempt to report."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return None
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            return f"{host} is {ip}, inside the portal's own network: webhooks may only call public addresses"
    return None


def signature(secret, timestamp, body):
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret, headers, body, *, tolerance_seconds=300, now=None):
    """What a receiver runs: is this body signed with ``secret``, and recently? (Python
    receivers may import this; the README shows the same in a few lines.)"""
    timestamp = headers.get("X-Arrayscope-Timestamp", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get("X-Arrayscope-Signature", ""))


def queue_deliveries(tenant, messages_by_filter):
    """A delivery for each filter with a webhook that has new matches ({filter: [messages]}),
    sent by a default worker once this transaction commits."""
    from .tasks import deliver_webhook

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
        transaction.on_commit(lambda pk=delivery.pk: deliver_webhook.delay(tenant.pk, pk))


def attempt(delivery):
    """POST the delivery once. Returns None when delivered or out of attempts, else the
    seconds to wait before the next attempt."""
    delivery.attempts += 1
    body = bytes(delivery.payload)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-Arrayscope-Delivery": str(delivery.pk), "X-Arrayscope-Timestamp": timestamp,
        "X-Arrayscope-Signature": signature(delivery.alert_filter.webhook_secret, timestamp, body),
    })  # fmt: skip
    refusal = refused_destination(delivery.url)
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
