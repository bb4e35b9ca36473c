from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage

from portal.celery import TenantTask, app
from portal.progress import fail_job, finish_job, report_progress, run_claimed

from .calibrated_photometry import calibrate_photometry
from .calibration import CalibrationRefused
from .fused_images import make_fused_image
from .fusion import FusionRefused
from .ingest import ingest_many
from .models import FusedImage, PhotometryCalibration


@app.task(base=TenantTask, runs_on="default")
def ingest_staged_files(tenant_id, job_id, staged_names, user_id=None):
    """Ingest files the upload page staged in storage, reporting each one to the job's page."""
    run_claimed(job_id, lambda job: _ingest_staged(job, staged_names, user_id))


def _ingest_staged(job, staged_names, user_id):
    user = get_user_model().objects.filter(pk=user_id).first()
    # Staged files that are gone were ingested by an earlier delivery of this task.
    present = [staged for staged in staged_names if default_storage.exists(staged)]
    ingested = ingest_many(job.tenant, user, ((staged.rsplit("/", 1)[-1], _reader(staged)) for staged in present))
    results = []
    for done, staged in enumerate(staged_names, start=1):
        name = staged.rsplit("/", 1)[-1]
        if staged in present:
            result = next(ingested).as_dict()
            default_storage.delete(staged)
        else:
            result = {"file": name, "status": "duplicate", "frame": None, "reason": "already ingested"}
        results.append(result)
        report_progress(job, done, f"{name}: {result['status']}")
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
    run_claimed(job_id, lambda job: _fuse(job, fused_id))


def _fuse(job, fused_id):
    fused = FusedImage.objects.select_related("target", "tenant").get(pk=fused_id)
    if _unless_refused(job, lambda progress: make_fused_image(fused, progress), FusionRefused) is None:
        return
    summary = {"fused_image": fused.pk, "frames_used": len(fused.frames_used),
               "frames_rejected": len(fused.frames_rejected), "snr": fused.snr, "snr_gain": fused.snr_gain}  # fmt: skip
    gain = f", {fused.snr_gain:.1f}× the best frame's signal-to-noise" if fused.snr_gain else ""
    finish_job(job, summary, f"Fused {len(fused.frames_used)} frames{gain}")


@app.task(base=TenantTask, runs_on="default")
def calibrate_target_photometry(tenant_id, job_id, run_id):
    """Tie a target's frames of one band to one scale, reporting each frame to the job's page."""
    run_claimed(job_id, lambda job: _calibrate(job, run_id))


def _calibrate(job, run_id):
    run = PhotometryCalibration.objects.select_related("target", "tenant").get(pk=run_id)
    rows = _unless_refused(job, lambda progress: calibrate_photometry(run, progress), CalibrationRefused)
    if rows is None:
        return
    tied = sum(row.zero_point is not None for row in rows)
    summary = {"calibration": run.pk, "frames_tied": tied, "frames_not_tied": len(rows) - tied,
               "frames_left_out": len(run.left_out), "shared_stars": run.star_count}  # fmt: skip
    finish_job(job, summary, f"Tied {tied} of {len(rows)} frames on {run.star_count} shared stars")


def _unless_refused(job, work, refusal):
    """``work(progress)``'s answer, or None when it is refused: a ``refusal`` is the request's own
    fault (no usable frame, nothing to tie), so it fails the job with its message and is not
    raised; any other error reaches ``run_claimed``, which fails the job naming it."""
    try:
        return work(lambda done, message: report_progress(job, done, message))
    except refusal as refused:
        fail_job(job, str(refused))
        return None
