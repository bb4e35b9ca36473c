"""Progress of long jobs, stored on the Job and pushed to the pages watching it.

Every long job (ingest, training, scheduling, generation) reports through these functions;
the page that started it listens on the job's websocket group (``portal.consumers``).
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from .models import Job


def job_group(job_id):
    return f"job-{job_id}"


def start_job(*, tenant, user, kind, title, total, subject=None):
    """A queued job; ``subject`` (a model instance) is what it works on, for that thing's page."""
    return Job.objects.create(tenant=tenant, created_by=user, kind=kind, title=title, total=total,
                              subject=job_subject(subject) if subject is not None else "")  # fmt: skip


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
    fields = ["status", "done", "message"]
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
