"""The webhook address rule as it is applied: to what the URL's name resolves to now, unless
the portal's settings lift it. One validator for the model's ``clean`` (which the page's form
runs), the API's serializer, and each delivery attempt, so all three refuse alike."""

import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from .webhook_policy import refused_addresses


def destination_refusal(url):
    """Why the portal will not call ``url`` now (it leads inside its own network), or None.
    A name that does not resolve now is left to the attempt to report. ALERT_WEBHOOK_ALLOW_PRIVATE
    lifts the rule for a portal whose receivers live on its own network (and for the tests)."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return None
    return refused_addresses(host, addresses)


def validate_webhook_destination(url):
    """ValidationError naming the address when a filter's webhook would call inside the portal's network."""
    refusal = destination_refusal(url) if url else None
    if refusal:
        raise ValidationError(refusal, code="private_address")
