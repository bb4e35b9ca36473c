"""The alerts app's Celery entry points. The classifier run is inference someone waits for, so
it runs on ``gpu``; webhook deliveries and beat's sweep are light (``default``)."""

import logging
from datetime import timedelta

from celery.signals import worker_process_init, worker_ready
from django.utils import timezone

from portal.celery import TenantTask, app

from . import deliveries, pipeline, runs
from .models import PendingAlert

logger = logging.getLogger(__name__)


@app.task(base=TenantTask, runs_on="gpu")
def classify_alerts(tenant_id, alert_ids):
    """Real-bogus and light-curve classification of newly stored alerts, then out to the live
    feed through the filters; idempotent (an alert is published once)."""
    from portal.tenancy import current_tenant

    if pipeline.classify_and_publish(current_tenant(), alert_ids):
        classify_alerts.delay(tenant_id, [])  # more may be waiting than one run takes


@app.task(base=TenantTask, bind=True, max_retries=None, runs_on="default")
def deliver_webhook(self, tenant_id, delivery_id):
    """One attempt at a webhook delivery, and the next one scheduled while attempts remain."""
    wait = deliveries.deliver(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)


@app.task(runs_on="default")
def queue_forgotten_runs():
    """Beat's sweep (settings.CELERY_BEAT_SCHEDULE): alerts left waiting for a classifier run go out."""
    runs.queue_forgotten_runs()


@worker_ready.connect
def send_on_what_a_lost_worker_held(sender, **kwargs):
    """A gpu worker killed mid-batch leaves its alerts unclassified and unpublished, and Redis
    hands its task back only after the visibility timeout (an hour): the next gpu worker to
    start sends them on at once. Publishing is idempotent, so an alert also still queued is
    published once."""
    if "gpu" not in sender.app.amqp.queues.consume_from:
        return
    from portal.models import Tenant
    from portal.tenancy import tenant_context

    since = timezone.now() - timedelta(days=1)
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            ids = list(PendingAlert.objects.filter(tenant=tenant, alert__received_at__gte=since)
                       .order_by("alert_id").values_list("alert_id", flat=True))  # fmt: skip
        for start in range(0, len(ids), 500):
            classify_alerts.delay(tenant.pk, ids[start : start + 500])


@worker_process_init.connect
def load_alert_classifiers(**kwargs):
    """A gpu worker's process loads the alert classifiers in production as it starts, so the
    first alert after a (re)start waits for no import and no weights."""
    if "gpu" not in app.amqp.queues.consume_from:
        return
    from django.db import connections

    from mlmodels import runtime
    from portal.models import Tenant
    from portal.tenancy import tenant_context

    from .classifiers import serving_versions

    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            for version in serving_versions(tenant):
                try:
                    runtime.loaded(version, runtime.folded)
                except Exception:  # a warm-up must never keep a worker from starting
                    logger.exception("could not load %s ahead of its first alert", version)
    connections.close_all()  # the first task opens its own
