import logging
import time
from datetime import timedelta

from celery.signals import worker_process_init, worker_ready
from django.utils import timezone

from portal.celery import TenantTask, app
from portal.progress import claim_job, fail_job

from . import services

logger = logging.getLogger(__name__)


@app.task(base=TenantTask, bind=True)
def accelerator_selftest(self, tenant_id, job_id, size=1024, steps=20):
    job = claim_job(job_id)
    if job is None:
        return  # another delivery of this message has it, or it is done
    try:
        services.accelerator_selftest(job, worker=self.request.hostname, size=size, steps=steps)
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise


@app.task(base=TenantTask, acks_late=True)
def train_model(tenant_id, job_id, model_id, examples=3000, epochs=15, seed=0, promote=False):
    """Train a model's next version on the gpu queue; the job page follows each epoch."""
    from .models import MLModel

    job = claim_job(job_id)
    if job is None:
        return  # another delivery of this message has it, or it is done
    try:
        services.train_version_job(
            job, MLModel.objects.get(pk=model_id), examples=examples, epochs=epochs, seed=seed, promote=promote
        )
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise


@app.task(base=TenantTask)
def classify(tenant_id, version_id, ids):
    """Classify new images or frames with one version; running it twice changes nothing."""
    from .models import ModelVersion

    services.classify(ModelVersion.objects.get(pk=version_id), ids)


@app.task(base=TenantTask)
def classify_alerts(tenant_id, alert_ids):
    """Real-bogus and light-curve classification of newly stored alerts, then out to the live
    feed through the filters; idempotent (an alert is published once)."""
    from alerts.feed import RUN_LIMIT, publish, waiting
    from alerts.services import classifier_run_started
    from portal.tenancy import current_tenant

    tenant = current_tenant()
    _space_runs(tenant_id)
    classifier_run_started(tenant_id)
    alert_ids = waiting(tenant, alert_ids)
    if not alert_ids:
        return  # an earlier run took them with its own
    services.classify_alerts(tenant, alert_ids)
    publish(tenant, alert_ids)
    if len(alert_ids) >= RUN_LIMIT:
        classify_alerts.delay(tenant_id, [])  # more may be waiting than one run takes


# A busy stream's runs follow each other closely; each goes out as a message per group through
# the web server's event loop, which the requests taking alerts in also need. Runs of one
# observatory start at least this far apart, so a stream's alerts go out in fewer, larger
# messages; after a quiet spell a run starts at once.
RUN_SPACING_S = 0.25
_last_run_started = {}


def _space_runs(tenant_id):
    wait = _last_run_started.get(tenant_id, 0.0) + RUN_SPACING_S - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    _last_run_started[tenant_id] = time.monotonic()


@app.task(base=TenantTask)
def backfill(tenant_id, job_id, version_id):
    """Classify everything of the tenant a newly promoted version has not seen, with progress."""
    from .models import ModelVersion

    job = claim_job(job_id)
    if job is None:
        return  # another delivery of this message has it, or it is done
    try:
        services.backfill_job(job, ModelVersion.objects.get(pk=version_id))
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise


@worker_ready.connect
def send_on_what_a_lost_worker_held(sender, **kwargs):
    """A gpu worker killed mid-batch leaves its alerts unclassified and unpublished, and Redis
    hands its task back only after the visibility timeout (an hour): the next gpu worker to
    start sends them on at once. Publishing is idempotent, so an alert also still queued is
    published once."""
    if "gpu" not in sender.app.amqp.queues.consume_from:
        return
    from alerts.models import PendingAlert
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

    from portal.models import Tenant
    from portal.tenancy import tenant_context

    from . import alert_classification

    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            for task in services.ALERT_TASKS:
                for version in services.production_versions(tenant, task):
                    try:
                        alert_classification.network_for(version)
                    except Exception:  # a warm-up must never keep a worker from starting
                        logger.exception("could not load %s ahead of its first alert", version)
    connections.close_all()  # the first task opens its own
