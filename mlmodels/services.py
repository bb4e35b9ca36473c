"""Work done on the ``gpu`` workers."""

import functools
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.apps import apps
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from alerts.synthetic import KINDS as ALERT_KINDS
from portal import audit
from portal.models import Action, Tenant, Where
from portal.progress import finish_job, queue_job, report_progress, start_job
from portal.tenancy import tenant_context

from . import registry
from .alert_features import SEQUENCE_FEATURES
from .frame_quality import FLAGS, PLANES, QUALITY_CLASSES
from .models import MLModel, ModelVersion, Prediction, Visibility
from .synthetic_galaxies import KINDS

BACKFILL_CHUNK = 256
ALERT_BACKFILL_CHUNK = 500
ALERT_BACKFILL_DAYS = 2


def accelerator_selftest(job, *, worker, size=1024, steps=20):
    """Measure the worker's dense matrix-multiply throughput, reporting each step.

    It answers the first question about a new GPU node — is the worker alive, on which
    device, and how fast — and is the smallest real job that exercises the whole live
    path: queue, worker, progress over the websocket, result on the page.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flop = 2 * size**3
    rates = []
    for step in range(1, steps + 1):
        started = time.perf_counter()
        a @ b
        rates.append(flop / (time.perf_counter() - started) / 1e9)
        report_progress(job, step, f"step {step}/{steps}: {rates[-1]:.1f} GFLOP/s")
    result = {
        "device": "cpu",
        "backend": f"numpy {np.__version__}",
        "worker": worker,
        "matrix_size": size,
        "median_gflops": round(statistics.median(rates), 2),
        "best_gflops": round(max(rates), 2),
    }
    finish_job(job, result, f"{result['median_gflops']} GFLOP/s median on {result['device']}")
    return result


@dataclass(frozen=True)
class SyntheticSource:
    """Labelled examples the project makes for a task, until real labels arrive."""

    noun: str  # what one example is, in messages: "galaxies"
    classes: tuple
    flags: tuple
    builder: str  # the training module's function making the TrainingSet
    generator: str  # the module that draws them, recorded with each version
    input_spec: dict
    architecture: str = "convnext_atto"  # what a new model is built as, unless told otherwise
    learning_rate: float = 2e-3


SYNTHETIC_SOURCES = {
    MLModel.Task.MORPHOLOGY: SyntheticSource("galaxies", KINDS, (), "galaxy_training_set",
                                             "mlmodels.synthetic_galaxies",
                                             {"size": 64, "bands": ["g", "r", "z"], "normalisation": "asinh-noise"}),
    MLModel.Task.FRAME_QUALITY: SyntheticSource("frames", QUALITY_CLASSES, FLAGS, "frame_training_set",
                                                "observations.synthetic",
                                                {"size": 128, "bands": list(PLANES), "normalisation": "asinh-noise"}),
    MLModel.Task.REAL_BOGUS: SyntheticSource("alerts", ("bogus", "real"), (), "real_bogus_training_set",
                                             "alerts.synthetic",
                                             {"size": 63, "bands": ["science", "template", "difference"],
                                              "normalisation": "asinh-noise"},
                                             architecture="module:mlmodels.networks.real_bogus_cnn_slim"),
    MLModel.Task.LIGHT_CURVE: SyntheticSource("light curves", ALERT_KINDS, (), "light_curve_training_set",
                                              "alerts.synthetic",
                                              {"size": 32, "bands": list(SEQUENCE_FEATURES),
                                               "normalisation": "magnitudes relative to the median detection"},
                                              architecture="module:mlmodels.networks.light_curve_gru",
                                              learning_rate=5e-3),
}  # fmt: skip


def synthetic_training_refusal(model):
    """Why ``model`` cannot learn from the project's synthetic examples, or None; asked before
    any work (the page asks it too, so nobody waits for a worker to say no)."""
    source = SYNTHETIC_SOURCES.get(model.task)
    if source is None:
        return f"there are no synthetic examples for {model.get_task_display().lower()} models yet"
    for kind, wanted, named in (("predicts", source.classes, model.class_names),
                                ("flags", source.flags, model.flag_names)):  # fmt: skip
        if list(named) != list(wanted):
            return (f"{model.name} {kind} {', '.join(named) or 'nothing'}; the synthetic {source.noun} are labelled "
                    f"{', '.join(wanted) or 'with none'}")  # fmt: skip
    return None


def train_version(model, user, *, examples, epochs, seed=0, on_epoch=None):
    """Train the model's next version on the project's synthetic examples for its task (the
    labelled source there is until volunteers' labels arrive) and register it, in staging,
    with its metrics and history."""
    from . import training  # torch: only on the workers that train

    refusal = synthetic_training_refusal(model)
    if refusal:
        raise training.TrainingRefused(refusal)
    source = SYNTHETIC_SOURCES[model.task]
    size = int(model.input_spec.get("size", source.input_spec["size"]))
    data = getattr(training, source.builder)(examples, seed=seed, size=size)
    network, metrics = training.train_classifier(data, architecture=model.architecture, epochs=epochs, seed=seed,
                                                 learning_rate=source.learning_rate, on_epoch=on_epoch)  # fmt: skip
    return registry.save_version(
        model, user, weights=training.weights_of(network), metrics=metrics,
        config={"pretrained_cfg": {"normalisation": source.input_spec["normalisation"]}},  # registry adds the size
        training_data={"summary": data.summary, "generator": source.generator, "count": examples, "seed": seed,
                       "split": metrics["split"]},
    )  # fmt: skip


def training_title(model, examples):
    """The training job's title, as pages list it."""
    return f"Training {model.name} on {examples:,} synthetic {SYNTHETIC_SOURCES[model.task].noun}"


def create_synthetic_model(tenant, user, *, name, task, architecture=None, visibility=Visibility.TENANT,
                           description=""):  # fmt: skip
    """Register a model shaped for the task's synthetic examples (classes, flags, input), built
    as ``architecture`` or the task's usual network."""
    source = SYNTHETIC_SOURCES[task]
    return registry.create_model(tenant, user, name=name, task=task, architecture=architecture or source.architecture,
                                 class_names=source.classes, flag_names=source.flags,
                                 input_spec=dict(source.input_spec), visibility=visibility,
                                 description=description)  # fmt: skip


def train_version_job(job, model, *, examples, epochs, seed=0, promote=False):
    """train_version for the job page: each epoch moves the bar, names its scores and
    extends the curve the page draws. ``promote`` puts the new version in production."""
    history = []

    def report(row):
        history.append(row)
        message = f"epoch {row['epoch']}: training loss {row['train_loss']:.3f}, validation accuracy "
        message += f"{row['val_accuracy']:.3f}"
        report_progress(job, row["epoch"], message, partial_result={"history": history})

    version = train_version(model, job.created_by, examples=examples, epochs=epochs, seed=seed, on_epoch=report)
    if promote:
        version, _ = promote_version(version, job.created_by, audit.Origin(Where.TASK, job.created_by))
    finish_job(job, {"model": model.name, "version": version.number, "accuracy": round(version.metrics["accuracy"], 4),
                     "history": version.metrics["history"]},
               f"{model.name} v{version.number}: test accuracy {version.metrics['accuracy']:.3f}")  # fmt: skip
    return version


def production_versions(tenant, task):
    """The versions that serve ``task`` for ``tenant``: the production version of each model
    it may use (its own first, then public ones)."""
    return (ModelVersion.objects.filter(stage=ModelVersion.Stage.PRODUCTION, model__task=task,
                                        model__in=registry.usable_models(tenant))
            .select_related("model").order_by(Case(When(tenant=tenant, then=0), default=1), "model__name"))  # fmt: skip


# What a task's models classify: the model of their subjects, the Prediction field naming
# one, and what to call them in messages.
SUBJECTS = {
    MLModel.Task.MORPHOLOGY: ("observations.TargetImage", "image", "images"),
    MLModel.Task.FRAME_QUALITY: ("observations.Frame", "frame", "frames"),
}


def _subjects(task):
    label, field, noun = SUBJECTS[task]
    subjects = apps.get_model(label).objects.all()
    return (subjects.select_related("target") if field == "image" else subjects), field, noun


def classify_when_committed(tenant, task, ids, versions=None):
    """Send new subjects (target images, frames) to every model of ``task`` serving ``tenant``,
    once they are committed (a worker must be able to read them). ``versions`` (that task's
    production_versions) spares the lookup to a caller sending one subject after another."""
    from . import tasks

    if not ids:
        return
    for version in production_versions(tenant, task) if versions is None else versions:
        transaction.on_commit(functools.partial(tasks.classify.delay, tenant.pk, version.pk, list(ids)))


def classify(version, ids):
    """Classify the tenant's subjects ``ids`` with ``version`` (on a worker)."""
    from . import inference

    subjects, _, _ = _subjects(version.model.task)
    return inference.classify(version, subjects.filter(pk__in=ids).order_by("pk"))


ALERT_TASKS = (MLModel.Task.REAL_BOGUS, MLModel.Task.LIGHT_CURVE)


def classify_alerts(tenant, ids):
    """Run every real-bogus and light-curve model serving ``tenant`` on its alerts ``ids``
    (on a worker); returns {model name: alerts classified}."""
    from alerts.models import Alert

    from . import alert_classification

    alerts = list(Alert.objects.filter(tenant=tenant, pk__in=ids).order_by("pk"))
    done = {}
    for task in ALERT_TASKS:
        for version in production_versions(tenant, task):
            done[version.model.name] = alert_classification.classify_alerts(version, alerts)
    return done


def backfill_job(job, version):
    """Classify every subject of the job's tenant that ``version`` has not seen yet, in chunks,
    moving the job's bar after each; safe to run again (seen ones are skipped)."""
    from . import inference

    if version.model.task in ALERT_TASKS:
        return _backfill_alerts(job, version)
    subjects, field, noun = _subjects(version.model.task)
    seen = Prediction.objects.filter(version=version, **{f"{field}__isnull": False}).values(f"{field}_id")
    waiting = subjects.filter(tenant=job.tenant).exclude(pk__in=seen)
    ids = list(waiting.order_by("pk").values_list("pk", flat=True))
    job.total = max(len(ids), 1)
    job.save(update_fields=["total"])
    classified = 0
    for start in range(0, len(ids), BACKFILL_CHUNK):
        chunk = waiting.filter(pk__in=ids[start : start + BACKFILL_CHUNK]).order_by("pk")
        classified += inference.classify(version, chunk, index=False)
        done = min(start + BACKFILL_CHUNK, len(ids))
        report_progress(job, done, f"{done:,} of {len(ids):,} {noun}")
    index_embeddings(version)
    refused = len(ids) - classified
    message = f"{version.model.name} v{version.number}: {classified:,} {noun} classified"
    finish_job(job, {"classified": classified, "refused": refused},
               message + (f", {refused:,} refused (the reasons are on their pages)" if refused else ""))  # fmt: skip
    return classified


def _backfill_alerts(job, version):
    """The tenant's alerts of the last ALERT_BACKFILL_DAYS that ``version`` has not seen: the
    night a new model was promoted in gets its answers too (older alerts keep the answers
    of the models of their day). They are not published again (filters ran on arrival), but
    the dashboards showing them are sent the new answers."""
    from alerts.feed import announce_scores
    from alerts.models import Alert, AlertClassification

    from . import alert_classification

    since = timezone.now() - timedelta(days=ALERT_BACKFILL_DAYS)
    seen = AlertClassification.objects.filter(version=version).values("alert_id")
    waiting = Alert.objects.filter(tenant=job.tenant, received_at__gte=since).exclude(pk__in=seen)
    ids = list(waiting.order_by("pk").values_list("pk", flat=True))
    job.total = max(len(ids), 1)
    job.save(update_fields=["total"])
    classified = 0
    for start in range(0, len(ids), ALERT_BACKFILL_CHUNK):
        chunk = list(Alert.objects.filter(pk__in=ids[start : start + ALERT_BACKFILL_CHUNK]).order_by("pk"))
        classified += alert_classification.classify_alerts(version, chunk)
        announce_scores(job.tenant, [alert.pk for alert in chunk])
        done = min(start + ALERT_BACKFILL_CHUNK, len(ids))
        report_progress(job, done, f"{done:,} of {len(ids):,} alerts")
    refused = len(ids) - classified
    message = f"{version.model.name} v{version.number}: {classified:,} alerts of the last {ALERT_BACKFILL_DAYS} days"
    message += " classified" + (f", {refused:,} refused (the reasons are in their panels)" if refused else "")
    finish_job(job, {"classified": classified, "refused": refused}, message)
    return classified


@transaction.atomic
def archive_version(version, origin=audit.SYSTEM):
    """Retire ``version`` (kept for comparison, never served), in the owner's audit log."""
    before = version.stage
    version = registry.archive(version)
    if before != version.stage:
        audit.record(version.model.tenant, Action.MODEL_ARCHIVED, version.model, origin, version=version.number,
                     changes={"stage": [before, version.stage]})  # fmt: skip
    return version


def index_embeddings(version):
    """Build the version's similarity index once its embeddings are written (a no-op when it
    has none, or has its index already)."""
    from .similarity import embedding_dimensions, ensure_embedding_index

    dimensions = embedding_dimensions(version)
    if dimensions:
        ensure_embedding_index(version, dimensions)


def promote_version(version, user, origin=None):
    """Put ``version`` in production and, once committed, backfill everything it now serves:
    the owner's images, frames or recent alerts, and every observatory's when the model is
    public. Returns the version and the owner's backfill job (None for models that classify
    none of these). The owner's audit log records it, by ``origin`` (``user`` in code or a
    shell when not given)."""
    from . import tasks

    owner_job = None
    with transaction.atomic():
        serving = version.model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).values_list("number", flat=True)
        previous = serving.first()
        version = registry.promote(version)
        if previous != version.number:
            origin = origin or audit.Origin(Where.SYSTEM, user)
            audit.record(version.model.tenant, Action.MODEL_PROMOTED, version.model, origin,
                         changes={"production version": [previous, version.number]})  # fmt: skip
        task = version.model.task
        if task not in SUBJECTS and task not in ALERT_TASKS:
            return version, None
        noun = SUBJECTS[task][2] if task in SUBJECTS else f"the last {ALERT_BACKFILL_DAYS} days' alerts"
        public = version.model.visibility == Visibility.PUBLIC
        for tenant in Tenant.objects.all() if public else [version.model.tenant]:
            with tenant_context(tenant):  # each observatory's job is its own row
                job = start_job(tenant=tenant, user=user if tenant.pk == version.tenant_id else None,
                                kind="backfill", total=1, subject=version.model,
                                title=f"Classifying {noun} with {version.model.name} v{version.number}")  # fmt: skip
                queue_job(job, tasks.backfill, tenant.pk, job.pk, version.pk)
            if tenant.pk == version.tenant_id:
                owner_job = job
    return version, owner_job
