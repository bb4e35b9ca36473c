from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage

from portal.celery import TenantTask, app
from portal.progress import claim_job, fail_job, finish_job, report_progress

from .fused_images import make_fused_image
from .fusion import FusionRefused
from .ingest import ingest_many
from .models import FusedImage


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


@app.task(base=TenantTask, runs_on="default")
def fuse_target_frames(tenant_id, job_id, fused_id):
    """Make a fused image that a page or the API asked for, reporting each frame to its page."""
    job = claim_job(job_id)
    if job is None:
        return
    fused = FusedImage.objects.select_related("target", "tenant").get(pk=fused_id)
    try:
        make_fused_image(fused, lambda done, message: report_progress(job, done, message))
    except FusionRefused as refusal:
        fail_job(job, str(refusal))
        return
    except Exception as error:
        fail_job(job, f"{type(error).__name__}: {error}")
        raise
    summary = {"fused_image": fused.pk, "frames_used": len(fused.frames_used),
               "frames_rejected": len(fused.frames_rejected), "snr": fused.snr, "snr_gain": fused.snr_gain}  # fmt: skip
    gain = f", {fused.snr_gain:.1f}× the best frame's signal-to-noise" if fused.snr_gain else ""
    finish_job(job, summary, f"Fused {len(fused.frames_used)} frames{gain}")
