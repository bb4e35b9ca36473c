"""The registry's Celery entry points. Work someone is waiting for (a self-test, new images
and frames) runs on ``gpu``; training, backfills, generation and repairs take minutes to hours,
so they have the ``gpu-batch`` worker of their own and a new alert or frame never waits behind them."""

from portal.celery import TenantTask, app
from portal.progress import run_claimed

from . import services


@app.task(base=TenantTask, bind=True, runs_on="gpu")
def accelerator_selftest(self, tenant_id, job_id, size=1024, steps=20):
    run_claimed(job_id, lambda job: services.accelerator_selftest(job, worker=self.request.hostname, size=size,
                                                                  steps=steps))  # fmt: skip


@app.task(base=TenantTask, runs_on="gpu-batch")
def train_model(tenant_id, job_id, model_id, examples=3000, epochs=15, seed=0, dataset=None, promote=False,
                focus=None):  # fmt: skip
    """Train a model's next version; the job page follows each epoch."""
    from .models import MLModel

    run_claimed(job_id, lambda job: services.train_version_job(job, MLModel.objects.get(pk=model_id), examples=examples,
                                                               epochs=epochs, seed=seed, dataset=dataset,
                                                               promote=promote, focus=focus))  # fmt: skip


@app.task(base=TenantTask, runs_on="gpu")
def classify(tenant_id, version_id, ids):
    """Classify new images or frames with one version; running it twice changes nothing."""
    from .models import ModelVersion

    services.classify(ModelVersion.objects.get(pk=version_id), ids)


@app.task(base=TenantTask, runs_on="gpu-batch")
def backfill(tenant_id, job_id, version_id):
    """Classify everything of the tenant a newly promoted version has not seen, with progress."""
    from .models import ModelVersion

    run_claimed(job_id, lambda job: services.backfill_job(job, ModelVersion.objects.get(pk=version_id)))


@app.task(base=TenantTask, runs_on="gpu-batch")
def generate(tenant_id, job_id, generated_set_id):
    """Make a generated set's galaxies and judge them; the set's page follows each batch."""
    from .generation import generate_set_job
    from .models import GeneratedSet

    run_claimed(job_id, lambda job: generate_set_job(
        job, GeneratedSet.objects.select_related("version__model").get(pk=generated_set_id)))  # fmt: skip


@app.task(base=TenantTask, runs_on="gpu-batch")
def generate_when_trained(tenant_id, model_id, user_id, **asked):
    """A generated set from a model's production version, asked for behind its training in the queue."""
    from .generation import generate_when_trained

    _follow_up(generate_when_trained, tenant_id, model_id, user_id, **asked)


@app.task(base=TenantTask, runs_on="gpu-batch")
def repair_first_flagged(tenant_id, model_id, user_id, attempts=20, **sampler):
    """The demo's first repair, asked for behind the inpainting model's training in the queue; while
    no frame is flagged yet, asked again at the back of the queue (behind the frame-quality backfill)."""
    from .repairs import repair_first_flagged

    _follow_up(repair_first_flagged, tenant_id, model_id, user_id, again=("mlmodels.tasks.repair_first_flagged",
                                                                          attempts), **sampler)  # fmt: skip


def _follow_up(service, tenant_id, model_id, user_id, again=None, **asked):
    """``service(tenant, model, user, **asked)``, a demo model's follow-up; when it answers False
    (not ready yet) and ``again`` = (task name, attempts left) allows, the task is sent again at
    the back of the queue with one attempt fewer."""
    from django.contrib.auth import get_user_model

    from portal.celery import send
    from portal.models import Tenant

    from .models import MLModel

    answer = service(Tenant.objects.get(pk=tenant_id), MLModel.objects.get(pk=model_id),
                     get_user_model().objects.filter(pk=user_id).first(), **asked)  # fmt: skip
    if answer is False and again is not None and again[1] > 1:
        task_name, attempts = again
        send(task_name, tenant_id, model_id, user_id, attempts=attempts - 1, **asked)


@app.task(base=TenantTask, runs_on="gpu-batch")
def repair_frame(tenant_id, job_id, repair_id):
    """Fill a frame repair's mask by inpainting; the repair's page follows each batch of patches."""
    from .models import FrameRepair
    from .repairs import repair_frame_job

    run_claimed(job_id, lambda job: repair_frame_job(
        job, FrameRepair.objects.select_related("frame", "version__model").get(pk=repair_id)))  # fmt: skip


@app.task(base=TenantTask, runs_on="gpu-batch")
def run_experiment(tenant_id, job_id, experiment_id):
    """Train a model with and without a generated set; the job page follows both trainings."""
    from .augmentation import experiment_job
    from .models import AugmentationExperiment

    run_claimed(job_id, lambda job: experiment_job(job, AugmentationExperiment.objects.select_related(
        "generated_set__version__model", "model").get(pk=experiment_id)))  # fmt: skip


@app.task(base=TenantTask, runs_on="gpu-batch")
def experiment_when_judged(tenant_id, model_id, user_id, attempts=20, **asked):
    """The demo's augmentation experiment, asked for behind its generated set's job in the queue;
    while that set is not judged yet, asked again at the back of the queue."""
    from .augmentation import experiment_when_judged

    _follow_up(experiment_when_judged, tenant_id, model_id, user_id,
               again=("mlmodels.tasks.experiment_when_judged", attempts), **asked)  # fmt: skip
