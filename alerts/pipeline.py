"""From stored to published: the classifier run a gpu worker makes over an observatory's
waiting alerts — every serving real-bogus and light-curve version on them, then out through
the filters to the live feed, webhooks and follow-up rules (``feed.publish``).

A busy stream's runs follow each other closely; each goes out as a message per group
through the web server's event loop, which the requests taking alerts in also need. Runs
of one observatory start at least ``RUN_SPACING_S`` apart, so a stream's alerts go out in
fewer, larger messages; after a quiet spell a run starts at once.
"""

import time

from . import runs
from .classifiers import classify_new_alerts
from .feed import RUN_LIMIT, publish, waiting

RUN_SPACING_S = 0.25
_last_run_started = {}


def classify_and_publish(tenant, alert_ids):
    """Classify the observatory's waiting alerts (``alert_ids`` and the oldest others, at most
    RUN_LIMIT) and publish them; idempotent (an alert is published once). Returns whether more
    may be waiting than one run takes."""
    _space_runs(tenant.pk)
    runs.run_started(tenant.pk)
    alert_ids = waiting(tenant, alert_ids, limit=RUN_LIMIT)
    if not alert_ids:
        return False  # an earlier run took them with its own
    classify_new_alerts(tenant, alert_ids)
    publish(tenant, alert_ids)
    return len(alert_ids) >= RUN_LIMIT


def _space_runs(tenant_id):
    wait = _last_run_started.get(tenant_id, 0.0) + RUN_SPACING_S - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    _last_run_started[tenant_id] = time.monotonic()
