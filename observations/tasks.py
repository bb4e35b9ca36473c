from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage

from portal.celery import TenantTask, app
from portal.progress import claim_job, fail_job, finish_job, report_progress

from .ingest import ingest_many


@app.task(base=TenantTask, runs_on="default")
def ingest_staged_files(tenant_id, job_id, staged_names, user_id=None):
    """Ingest files the upload page staged in storage, reporting each one to the job's page."""
    job = claim_job(job_id)
    if job is None:
        return  # another delivery of this message has it, or it is done
    user = get_user_model().objects.filter(pk=user_id).first()
    results = []
    try:
        # Staged files that are gone were ingested by an earlier delivery of this task.
        present = [staged for staged in staged_names if default_storage.exists(staged)]
        ingested = ingest_many(job.tenant, user, ((staged.rsplit("/", 1)[-1], _reader(staged)) for staged in present))
        for done, staged in enumerate(staged_names, start=1):
            name = staged.rsplit("/", 1)[-1]
            if staged in present:
                result = next(ingested).as_dict()
                default_storage.delete(staged)
            else:
                result = {"file": name, "status": "duplicate", "frame": None, "reason": "already ingested"}
            results.append(result)
            report_progress(job, done, f"{name}: {result['status']}")
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise
    counts = {status: sum(r["status"] == status for r in results) for status in ("created", "duplicate", "rejected")}
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    finish_job(job, {**counts, "files": results}, f"{len(results)} files: {summary}")


def _reader(staged):
    def read():
        with default_storage.open(staged, "rb") as upload:
            return upload.read()

    return read
