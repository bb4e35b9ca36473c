"""The demo's models: registered at first start and trained there, on the gpu-batch worker,
then promoted, so every demo alert, galaxy and frame is classified minutes after the portal
is up."""


from portal.models import Job
from portal.progress import job_subject, queue_job, start_job

from . import services, tasks
from .models import MLModel, Visibility

# name, task, synthetic examples, epochs, what it is. The alert models come first: they
# train in about a minute, and the demo's replayed alerts are waiting for them.
DEMO_MODELS = [
    ("alert-real-bogus", MLModel.Task.REAL_BOGUS, 3000, 10,
     "Real or bogus from an alert's science, template and difference stamps (63 px): a braai-style CNN trained on "
     "synthetic supernovae, variables and AGN against cosmic rays, bad subtractions and satellite trails."),
    ("alert-light-curve", MLModel.Task.LIGHT_CURVE, 3000, 30,
     "SN Ia, SN II, variable star, AGN or bogus from the detections and upper limits before an alert: a GRU over "
     "(time since first, time since previous, magnitude, error, band, upper limit) of the last 32 points."),
    ("galaxy-morphology", MLModel.Task.MORPHOLOGY, 3000, 15,
     "Six classes of the synthetic generator (elliptical, spiral, barred spiral, edge-on, merger, irregular) from "
     "g, r, z cutouts of 64 px at 0.262″; its pooled features are the 'similar galaxies' space."),
    ("frame-quality", MLModel.Task.FRAME_QUALITY, 1500, 12,
     "Good, medium or bad, and the defects (clouds, defocus, satellite trails, cosmic rays), from the frame binned "
     "to 128 px: block mean and how far each block's brightest pixel stands above it."),
]  # fmt: skip


def load_demo_models(tenant, user):
    """Register the demo models (public, so the second demo observatory uses them too) and
    queue each one's first training with promotion, unless it has a version or a training
    that has not failed. The gpu-batch worker takes them one after the other."""
    jobs = []
    for name, task, examples, epochs, description in DEMO_MODELS:
        model = MLModel.objects.filter(tenant=tenant, name=name).first() or services.create_synthetic_model(
            tenant, user, name=name, task=task, visibility=Visibility.PUBLIC, description=description
        )  # fmt: skip
        training = Job.objects.filter(tenant=tenant, kind="training", subject=job_subject(model))
        if model.versions.exists() or training.exclude(status=Job.Status.FAILED).exists():
            continue
        job = start_job(
            tenant=tenant,
            user=user,
            kind="training",
            total=epochs,
            subject=model,
            title=services.training_title(model, examples),
        )
        queue_job(job, tasks.train_model, tenant.pk, job.pk, model.pk, examples=examples, epochs=epochs, promote=True)
        jobs.append(job)
    return jobs
