"""Progress of long jobs, stored on the Job and pushed to the pages watching it.

Every long job (ingest, training, scheduling, generation) reports through these functions;
the page that started it listens on the job's websocket group (``portal.consumers``).

A job outlives its worker: it remembers the task that does it (``queue_job``), a worker
takes it only by claiming it (``claim_job``, so a message delivered twice runs once), each
report is a heartbeat, and ``recover_jobs`` queues again the jobs whose worker stopped
(a Ctrl-C during the first start, a killed or lost worker) or, when they cannot be resumed,
fails them with the reason instead of leaving them "running" for ever.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .celery import send
from .models import Job, Tenant
from .tenancy import tenant_context


def job_group(job_id):
    return f"job-{job_id}"


def start_job(*, tenant, user, kind, title, total, subject=None):
    """A queued job; ``subject`` (a model instance) is what it works on, for that thing's page."""
    return Job.objects.create(tenant=tenant, created_by=user, kind=kind, title=title, total=total,
                              subject=job_subject(subject) if subject is not None else "")  # fmt: skip


def queue_job(job, task_name, *args, **kwargs):
    """Send the task named ``task_name`` for ``job`` once the transaction commits, and keep how
    on the job, so that it can be sent again if its worker stops (``recover_jobs``)."""
    job.task = task_name
    job.arguments = {"args": list(args), "kwargs": kwargs}
    job.save(update_fields=["task", "arguments"])
    transaction.on_commit(lambda: send(task_name, *args, **kwargs))


def claim_job(job_id):
    """The job, now running, for the one worker that takes it; None when it is not waiting
    (another delivery of the same message has it, or it is done)."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now()
    )
    return Job.objects.select_related("tenant").get(pk=job_id) if claimed else None


def run_claimed(job_id, work):
    """``work(job)`` for the job, if this delivery claims it (else None: another has it, or it is
    done); an error fails the job, saying what went wrong, and is raised again for Celery to log."""
    job = claim_job(job_id)
    if job is None:
        return None
    try:
        return work(job)
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise


def recover_jobs(stale_after):
    """Jobs of every tenant that are waiting or running with no report for ``stale_after``
    (a timedelta; zero when no worker can be running, as the launcher starts): those that
    know their task are queued again, the rest fail saying why. Returns (requeued, failed)."""
    cutoff = timezone.now() - stale_after
    unfinished = Q(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
    silent = Q(heartbeat_at__lte=cutoff) | Q(heartbeat_at__isnull=True, created_at__lte=cutoff)
    requeued, failed = [], []
    for tenant in Tenant.objects.all():
        with tenant_context(tenant), transaction.atomic():
            for job in Job.objects.select_for_update().filter(unfinished & silent):
                if job.task:
                    _requeue(job)
                    requeued.append(job)
                else:
                    fail_job(job, "Its worker stopped before the end, and this kind of job cannot be resumed.")
                    failed.append(job)
    return requeued, failed


def _requeue(job):
    job.status = Job.Status.QUEUED
    job.heartbeat_at = timezone.now()  # not stale again before a worker has had time to take it
    job.message = "Queued again: its worker stopped before the end."
    _publish(job, ["status", "heartbeat_at", "message"])
    task, args, kwargs = job.task, job.arguments.get("args", []), job.arguments.get("kwargs", {})
    transaction.on_commit(lambda: send(task, *args, **kwargs))


def job_subject(instance):
    return f"{instance._meta.label_lower}:{instance.pk}"


def _publish(job, fields):
    job.save(update_fields=fields)
    async_to_sync(get_channel_layer().group_send)(
        job_group(job.pk), {"type": "job.progress", "state": job.as_message()}
    )


def report_progress(job, done, message="", partial_result=None):
    """Move the job on; ``partial_result`` (e.g. a training history so far) replaces the
    job's result, so a page that connects late still draws everything so far."""
    job.status = Job.Status.RUNNING
    job.done = min(done, job.total)
    job.message = message
    job.heartbeat_at = timezone.now()
    fields = ["status", "done", "message", "heartbeat_at"]
    if partial_result is not None:
        job.result = partial_result
        fields.append("result")
    _publish(job, fields)


def finish_job(job, result, message="Done"):
    job.status = Job.Status.SUCCEEDED
    job.done = job.total
    job.result = result
    job.message = message
    job.finished_at = timezone.now()
    _publish(job, ["status", "done", "result", "message", "finished_at"])


def fail_job(job, message):
    job.status = Job.Status.FAILED
    job.message = message[:300]
    job.finished_at = timezone.now()
    _publish(job, ["status", "message", "finished_at"])
