"""When the gpu workers' classifier runs over an observatory's alerts are queued.

A run takes every alert of the observatory still waiting to go out, so one queued run
serves every alert stored before it starts. A mark in Redis says a run is queued and not
started; it expires, so a run that is lost holds back no later alert for long, and beat's
sweep (``queue_forgotten_runs``) sends on whatever waited too long anyway.
"""

import functools
import logging
from datetime import timedelta

import kombu.exceptions
from django.db import transaction
from django.utils import timezone

from portal.celery import send
from portal.models import Tenant
from portal.shared_redis import REDIS_FAILURES, shared_redis
from portal.tenancy import tenant_context

from .models import PendingAlert

logger = logging.getLogger(__name__)
RUN_QUEUED_MARK_S = 10
FORGOTTEN_AFTER = timedelta(seconds=10)  # an alert waits about a second for its run when all is well


def classify_when_committed(tenant, ids):
    """Send new alerts to the gpu workers' classifiers once a worker can read them.

    A classifier run takes every alert of the observatory still waiting (``feed.waiting``), so
    while one is queued and has not started, newer alerts need no run of their own. Alerts
    posted one by one would otherwise queue a run each, and at 100 a second those empty runs
    cost the gpu worker more than the alerts do.

    With Redis down the run cannot be queued; the alerts are stored all the same and wait
    (``PendingAlert``) for the next run, which ``queue_forgotten_runs`` queues if no later
    alert does; the caller (an API request, a stream) is not failed for it."""
    transaction.on_commit(functools.partial(_queue_classifier_run, tenant.pk, ids))


def _queue_classifier_run(tenant_id, ids):
    # The mark expires, so a queued run that is lost (its worker killed) holds back no later alert for long.
    try:
        if shared_redis().set(_run_queued_key(tenant_id), 1, nx=True, ex=RUN_QUEUED_MARK_S):
            send("alerts.tasks.classify_alerts", tenant_id, ids)
    except (*REDIS_FAILURES, kombu.exceptions.OperationalError) as error:
        logger.warning("%d alerts wait for Redis to be back before they are classified (%s)", len(ids), error)


def queue_forgotten_runs(older_than=FORGOTTEN_AFTER):
    """Queue a classifier run for each observatory whose alerts have waited longer than
    ``older_than`` (a timedelta): stored while Redis was down, or their run lost with a killed
    worker or Redis, they go out even if no later alert comes to take them along. Runs from
    Celery beat; returns the observatories' ids."""
    cutoff = timezone.now() - older_than
    queued = []
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            if PendingAlert.objects.filter(tenant=tenant, alert__received_at__lt=cutoff).exists():
                _queue_classifier_run(tenant.pk, [])
                queued.append(tenant.pk)
    return queued


def run_started(tenant_id):
    """A classifier run calls this before it looks for waiting alerts: any alert stored from
    now on queues the next run."""
    shared_redis().delete(_run_queued_key(tenant_id))


def _run_queued_key(tenant_id):
    return f"arrayscope:alerts-classifier-run-queued:{tenant_id}"
