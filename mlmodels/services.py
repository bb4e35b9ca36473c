"""The registry's operations — training a version, promoting and archiving one, sending new
subjects to the versions that serve them, the gpu workers' self-test — for pages, the API,
tasks and commands alike. What a task classifies and learns from is a plug-in
(``subjects``, ``training_sets``); this module names neither images nor alerts."""

import functools
import statistics
import time

import numpy as np
from django.db import transaction
from django.db.models import Case, When

from portal import audit
from portal.caching import kept_for
from portal.celery import send
from portal.models import Action, Tenant, Where
from portal.progress import finish_job, queue_job, report_progress, start_job
from portal.tenancy import tenant_context

from . import frame_quality, registry
from .galaxy_zoo import OUTPUTS_KEY, VOTE_FRACTIONS
from .models import MLModel, ModelVersion, Prediction, Visibility
from .subjects import subject_for
from .training_sets import source_for

SERVING_READ_EVERY_S = 5


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


def training_refusal(model, dataset=None, focus=None):
    """Why ``model`` cannot learn from its task's examples (``dataset``: which stored set, for
    a stored source; ``focus``: the class a generator is trained for), or None; asked before any
    work (the page asks it too, so nobody waits for a worker to say no)."""
    source = source_for(model.task)
    if source is None:
        return f"there are no labelled examples for {model.get_task_display().lower()} models yet"
    if source.stored and dataset is None:
        return f"{model.name} learns from stored sets of {source.noun}: choose which one"
    if focus is not None and not source.focusable:
        return (f"{model.name} is a {model.get_task_display().lower()} model; only a generator of several classes "
                f"is trained for one of them")  # fmt: skip
    if focus is not None and focus not in model.class_names:
        return f"{model.name} makes {', '.join(model.class_names)}; not {focus!r}"
    kinds = (("predicts", source.classes_for(dataset), model.class_names), ("flags", source.flags, model.flag_names))
    for kind, wanted, named in kinds:
        if list(named) != list(wanted):
            origin = "the chosen set is" if source.stored else f"the synthetic {source.noun} are"
            return (f"{model.name} {kind} {', '.join(named) or 'nothing'}; {origin} labelled "
                    f"{', '.join(wanted) or 'with none'}")  # fmt: skip
    return None


def train_version(model, user, *, examples, epochs, seed=0, dataset=None, on_epoch=None, focus=None):
    """Train the model's next version on its task's examples — ``examples`` synthetic ones
    drawn fresh, or at most that many of the stored set ``dataset`` — and register it, in
    staging, with its metrics and history. A generator trained for a class (``focus``) draws it most."""
    from . import training  # torch: only on the workers that train

    refusal = training_refusal(model, dataset, focus)
    if refusal:
        raise training.TrainingRefused(refusal)
    source = source_for(model.task)
    size = int(model.input_spec.get("size", source.input_spec["size"]))
    if source.stored:
        data = source.load(dataset, size=size, limit=examples, seed=seed)
    else:
        data = source.build(examples, seed=seed, size=size)
    focused = {"focus": data.class_names.index(focus)} if focus is not None else {}
    network, metrics = source.train(data, architecture=model.architecture, epochs=epochs, seed=seed,
                                    on_epoch=on_epoch, rivals=_production_rival(model), **focused)  # fmt: skip
    summary = data.summary
    if focus is not None:
        summary += f"; {focus.replace('_', ' ')} in {metrics['class_shares'][focus]:.0%} of the draws"
    # The registry adds the size; a set may say more of how its inputs were scaled (a generator's band noise).
    config = {"pretrained_cfg": {"normalisation": source.input_spec["normalisation"], **data.config}}
    if data.votes is not None:
        config[OUTPUTS_KEY] = VOTE_FRACTIONS
    return registry.save_version(
        model, user, weights=training.weights_of(network), metrics=metrics, config=config,
        training_data={"summary": summary, "generator": source.generator, "count": len(data.images),
                       "seed": seed, "split": metrics["split"], **({"dataset": dataset} if source.stored else {})},
    )  # fmt: skip


def _production_rival(model):
    """{"vN (production)": its network} for the model's production version, to be scored on the
    new version's held-out examples; empty when there is none or it predicts other outputs."""
    from .runtime import registered_network

    production = model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
    if production is None or production.config.get("label_names") != list(model.class_names):
        return {}
    network, _ = registered_network(production)
    return {f"v{production.number} (production)": network}


def queue_training(model, user, *, examples, epochs, dataset=None, promote=False, focus=None):
    """The training job for the model's next version, queued on a gpu-batch worker once committed."""
    source = source_for(model.task)
    title = f"Training {model.name} on {source.describe(examples, dataset)}"
    if focus is not None:
        title += f", for {focus.replace('_', ' ')} galaxies"
    job = start_job(tenant=model.tenant, user=user, kind="training", total=epochs, subject=model, title=title)
    queue_job(job, "mlmodels.tasks.train_model", model.tenant_id, job.pk, model.pk, examples=examples, epochs=epochs,
              dataset=dataset, promote=promote, focus=focus)  # fmt: skip
    return job


def create_task_model(tenant, user, *, name, task, dataset=None, architecture=None, visibility=Visibility.TENANT,
                      description=""):  # fmt: skip
    """Register a model shaped for the task's examples (classes, flags, input) — for a stored
    source, for the set ``dataset`` (a vote export's answers) — built as ``architecture`` or
    the task's usual network."""
    source = source_for(task)
    return registry.create_model(tenant, user, name=name, task=task, architecture=architecture or source.architecture,
                                 class_names=source.classes_for(dataset), flag_names=source.flags,
                                 input_spec=dict(source.input_spec), visibility=visibility,
                                 description=description)  # fmt: skip


def train_version_job(job, model, *, examples, epochs, seed=0, dataset=None, promote=False, focus=None):
    """train_version for the job page: each epoch moves the bar, names its scores and
    extends the curve the page draws. ``promote`` puts the new version in production."""
    history = []

    def report(row):
        history.append(row)
        message = f"epoch {row['epoch']}: {describe_epoch(row)}"
        report_progress(job, row["epoch"], message, partial_result={"history": history})

    version = train_version(model, job.created_by, examples=examples, epochs=epochs, seed=seed, dataset=dataset,
                            on_epoch=report, focus=focus)  # fmt: skip
    if promote:
        version, _ = promote_version(version, job.created_by, audit.Origin(Where.TASK, job.created_by))
    metrics = version.metrics
    score, said = headline_score(metrics)
    message = f"{model.name} v{version.number}: {said}"
    if metrics.get("mean_fraction_error") is not None:
        message += f" ({metrics['first_question']}), vote fractions off by {metrics['mean_fraction_error']:.3f}"
    finish_job(job, {"model": model.name, "version": version.number, score: round(metrics[score], 4),
                     "history": metrics["history"]}, message)  # fmt: skip
    return version


def headline_score(metrics, noun="examples"):
    """(key, words) of a version's headline score: its test accuracy, or a generator's validation loss."""
    if "accuracy" in metrics:
        return "accuracy", f"test accuracy {metrics['accuracy']:.3f} on {metrics['test_examples']} held-out {noun}"
    return "val_loss", f"validation loss {metrics['val_loss']:.4f} on {metrics['split']['validation']} held-out {noun}"


def describe_epoch(row):
    """An epoch of a training history in words: its losses, and its validation accuracy where
    there is one (a generator's only score is how well it denoises galaxies it never saw)."""
    words = [f"training loss {row['train_loss']:.4f}", f"validation loss {row['val_loss']:.4f}"]
    if row.get("val_accuracy") is not None:
        words.append(f"validation accuracy {row['val_accuracy']:.3f}")
    return ", ".join(words)


def production_versions(tenant, task):
    """The versions that serve ``task`` for ``tenant``: the production version of each model
    it may use (its own first, then public ones)."""
    return (ModelVersion.objects.filter(stage=ModelVersion.Stage.PRODUCTION, model__task=task,
                                        model__in=registry.usable_models(tenant))
            .select_related("model").order_by(Case(When(tenant=tenant, then=0), default=1), "model__name"))  # fmt: skip


def production_prediction(tenant, task, image_id):
    """What the model serving ``task`` for ``tenant`` said about a target image (its own model's
    answer before a public one's), as {"model", "label", "confidence", "probabilities"}, or None. A volunteer's
    every submit asks it, so which versions serve is read once every ``SERVING_READ_EVERY_S``
    per process (a promotion shows there within seconds) and the answer is one plain query."""
    serving = _serving(tenant, task)
    if not serving:
        return None
    answers = Prediction.objects.filter(image_id=image_id, refusal="", version_id__in=[pk for pk, _ in serving])
    said = {version_id: (label, confidence, probabilities) for version_id, label, confidence, probabilities
            in answers.values_list("version_id", "label", "confidence", "probabilities")}  # fmt: skip
    for version_id, model_name in serving:
        if version_id in said:
            label, confidence, probabilities = said[version_id]
            return {"model": model_name, "label": label, "confidence": confidence, "probabilities": probabilities}
    return None


@kept_for(SERVING_READ_EVERY_S)
def _serving(tenant, task):
    """[(version id, model name)] in ``production_versions``' order."""
    return list(production_versions(tenant, task).values_list("pk", "model__name"))


def classify_when_committed(tenant, task, ids, versions=None):
    """Send new subjects (target images, frames) to every model of ``task`` serving ``tenant``,
    once they are committed (a worker must be able to read them). ``versions`` (that task's
    production_versions) spares the lookup to a caller sending one subject after another."""
    if not ids:
        return
    for version in production_versions(tenant, task) if versions is None else versions:
        transaction.on_commit(functools.partial(send, "mlmodels.tasks.classify", tenant.pk, version.pk, list(ids)))


def classify(version, ids):
    """Classify the tenant's subjects ``ids`` with ``version`` (on a worker)."""
    return subject_for(version.model.task).classify(version, ids)


def backfill_job(job, version):
    """Classify every subject of the job's tenant that ``version`` has not seen yet, moving the
    job's bar as it goes; safe to run again (seen ones are skipped)."""
    return subject_for(version.model.task).backfill(job, version)


@transaction.atomic
def archive_version(version, origin=audit.SYSTEM):
    """Retire ``version`` (kept for comparison, never served), in the owner's audit log."""
    before = version.stage
    version = registry.archive(version)
    if before != version.stage:
        audit.record(version.model.tenant, Action.MODEL_ARCHIVED, version.model, origin, version=version.number,
                     changes={"stage": [before, version.stage]})  # fmt: skip
    return version


def promote_version(version, user, origin=None):
    """Put ``version`` in production and, once committed, backfill everything it now serves:
    the owner's images, frames or recent alerts, and every observatory's when the model is
    public. Returns the version and the owner's backfill job (None for models that classify
    none of these). The owner's audit log records it, by ``origin`` (``user`` in code or a
    shell when not given)."""
    owner_job = None
    with transaction.atomic():
        serving = version.model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).values_list("number", flat=True)
        previous = serving.first()
        version = registry.promote(version)
        if previous != version.number:
            origin = origin or audit.Origin(Where.SYSTEM, user)
            audit.record(version.model.tenant, Action.MODEL_PROMOTED, version.model, origin,
                         changes={"production version": [previous, version.number]})  # fmt: skip
        subject = subject_for(version.model.task)
        if subject is None:
            return version, None
        title = f"Classifying {subject.backfill_scope} with {version.model.name} v{version.number}"
        public = version.model.visibility == Visibility.PUBLIC
        for tenant in Tenant.objects.all() if public else [version.model.tenant]:
            with tenant_context(tenant):  # each observatory's job is its own row
                job = start_job(tenant=tenant, user=user if tenant.pk == version.tenant_id else None,
                                kind="backfill", total=1, subject=version.model,
                                title=title)  # fmt: skip
                queue_job(job, "mlmodels.tasks.backfill", tenant.pk, job.pk, version.pk)
            if tenant.pk == version.tenant_id:
                owner_job = job
    return version, owner_job


def frame_quality_vetoes(tenant, frames):
    """{frame id: why} of the frames the serving frame-quality model judges spoilt everywhere:
    *bad*, or clouds or defocus more likely than not. Image fusion leaves them out
    (``settings.FRAME_VETOES``); a satellite trail or cosmic rays do not count, the fusion
    rejects those pixels against the other frames. A frame the model has not judged is kept."""
    version = production_versions(tenant, MLModel.Task.FRAME_QUALITY).first()
    if version is None:
        return {}
    vetoes = {}
    for prediction in Prediction.objects.filter(version=version, frame__in=frames, refusal=""):
        spoilt = [(flag, p) for flag, p in prediction.raised_flags() if flag in frame_quality.SPOILING]
        if prediction.label == "bad" or spoilt:
            said = ", ".join(f"{flag} {p:.0%}" for flag, p in spoilt) or f"bad {prediction.confidence:.0%}"
            vetoes[prediction.frame_id] = f"judged spoilt by {version.model.name} v{version.number} ({said})"
    return vetoes
