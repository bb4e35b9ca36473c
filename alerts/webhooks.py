"""Webhooks: a filter's matches POSTed to its owner's URL as they are published, signed so the
receiver can tell they came from this portal and were not replayed.

The body is JSON: ``{"filter": {"id", "name"}, "alerts": [...]}``, each alert as the live feed
sends it, signed as alerts.webhook_policy says. A webhook may only call public addresses:
others are refused when the filter is saved (alerts.validators) and again before each attempt
(alerts.deliveries), which is retried with growing pauses and recorded for the filter's page.

This module is what the rest of the portal and Python receivers import; the parts live apart
so that the rules (pure) are not tied to the database or the network.
"""

from .deliveries import attempt, queue_deliveries
from .webhook_policy import signature, verify

__all__ = ["attempt", "queue_deliveries", "signature", "verify"]
