"""What a webhook is, apart from sending it: how a body is signed and checked, which URLs a
webhook may have, and which addresses the portal refuses to call. No database, no network, no
Django: a receiver written in Python can import ``verify`` without the portal's settings, and
the rules are the same wherever they are applied (alerts.validators when a filter is saved,
alerts.deliveries before each attempt).

Headers of each attempt:

    X-Arrayscope-Delivery   the delivery's id (the same on every retry: receivers dedupe on it)
    X-Arrayscope-Timestamp  Unix seconds when this attempt was signed
    X-Arrayscope-Signature  sha256=HMAC-SHA256(secret, "<timestamp>.<body>") in hex
"""

import hashlib
import hmac
import ipaddress
import time

SCHEMES = ["http", "https"]  # what a webhook URL may start with (a list: the model field's migration says so)
USER_AGENT = "Arrayscope-Webhook/1"


def signature(secret, timestamp, body):
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(delivery_id, secret, body, timestamp):
    """The headers of one attempt: signed afresh each time, so a receiver can refuse a replay."""
    return {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-Arrayscope-Delivery": str(delivery_id), "X-Arrayscope-Timestamp": timestamp,
        "X-Arrayscope-Signature": signature(secret, timestamp, body),
    }  # fmt: skip


def verify(secret, headers, body, *, tolerance_seconds=300, now=None):
    """What a receiver runs: is this body signed with ``secret``, and recently? (Python
    receivers may import this; the README shows the same in a few lines.)"""
    timestamp = headers.get("X-Arrayscope-Timestamp", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get("X-Arrayscope-Signature", ""))


def refused_addresses(host, addresses):
    """Why the portal will not call ``host``, which resolves to ``addresses``, or None.

    A webhook is a URL anyone in an observatory can make the portal's workers call, so it must
    not lead into the portal's own network (the database, Redis, a cloud metadata service):
    one address that is not global (private, loopback, link-local, reserved) is enough to refuse,
    since the attempt could connect to any of them."""
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 scope (fe80::1%eth0) is not part of the address
        if not ip.is_global:
            return f"{host} is {ip}, inside the portal's own network: webhooks may only call public addresses"
    return None
