"""Jobs outlive their workers: a job whose worker stopped is queued again (or failed, saying
why) instead of staying "running" for ever, and a message delivered twice runs once."""

import time
from datetime import timedelta

from django.utils import timezone

from mlmodels.models import ModelVersion
from mlmodels.registry import create_model
from mlmodels.synthetic_galaxies import KINDS
from mlmodels.tasks import train_model
from portal.models import Job
from portal.progress import recover_jobs, start_job
from portal.tenancy import tenant_context
from tests.waiting import finished


def _morphology_model(tenant, user):
    with tenant_context(tenant):
        return create_model(tenant, user, name="galaxy-morphology", task="morphology",
                            architecture="convnext_atto", class_names=KINDS, input_spec={"size": 32})  # fmt: skip


def _abandoned_training(tenant, user, model):
    """A training whose worker took it and then stopped (Ctrl-C, a killed process): "running",
    last heard from an hour ago, its message gone from the queue."""
    with tenant_context(tenant):
        job = start_job(tenant=tenant, user=user, kind="training", title="Training", total=2, subject=model)
        arguments = {"args": [tenant.pk, job.pk, model.pk], "kwargs": {"examples": 120, "epochs": 2}}
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.RUNNING, done=1, heartbeat_at=timezone.now() - timedelta(hours=1),
            task=train_model.name, arguments=arguments,
        )  # fmt: skip
    return job


def test_a_training_whose_worker_stopped_is_queued_again_and_finishes(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    model = _morphology_model(tenant, users["admin"])
    job = _abandoned_training(tenant, users["admin"], model)
    requeued, failed = recover_jobs(timedelta(minutes=30))
    assert [j.pk for j in requeued] == [job.pk] and not failed
    job = finished(tenant, job, timeout=180)
    assert job.status == Job.Status.SUCCEEDED, job.message
    with tenant_context(tenant):
        assert ModelVersion.objects.filter(model=model).count() == 1


def test_a_job_still_reporting_is_left_alone_and_one_that_cannot_resume_fails_with_the_reason(committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        live = start_job(tenant=tenant, user=users["admin"], kind="selftest", title="Live", total=5)
        Job.objects.filter(pk=live.pk).update(status=Job.Status.RUNNING, heartbeat_at=timezone.now(), task="x.y")
        orphan = start_job(tenant=tenant, user=users["admin"], kind="import", title="Orphan", total=5)
        Job.objects.filter(pk=orphan.pk).update(
            status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=2)
        )
    requeued, failed = recover_jobs(timedelta(minutes=30))
    assert live.pk not in {j.pk for j in requeued + failed}
    assert orphan.pk in {j.pk for j in failed}
    with tenant_context(tenant):
        live.refresh_from_db(), orphan.refresh_from_db()
    assert live.status == Job.Status.RUNNING
    assert orphan.status == Job.Status.FAILED and "worker stopped" in orphan.message


def test_a_training_message_delivered_twice_trains_one_version(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    model = _morphology_model(tenant, users["admin"])
    with tenant_context(tenant):
        job = start_job(tenant=tenant, user=users["admin"], kind="training", title="Training", total=2, subject=model)
    for _ in range(2):  # a redelivery (acks_late after a lost connection), or a re-send by recovery
        train_model.delay(tenant.pk, job.pk, model.pk, examples=120, epochs=2)
    job = finished(tenant, job, timeout=180)
    assert job.status == Job.Status.SUCCEEDED, job.message
    time.sleep(5)  # the second delivery has had time to run, if it were going to
    with tenant_context(tenant):
        assert ModelVersion.objects.filter(model=model).count() == 1
