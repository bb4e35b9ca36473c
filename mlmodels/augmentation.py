"""The augmentation experiment: whether a generated set of a rare class makes a classifier find
that class more often, on real galaxies.

Two versions of one morphology model are trained on the generator's own training galaxies (the
real, labelled galaxies its owner has, in survey proportions, so the set's class is rare) with
one split: the second also sees the set's galaxies, on its training side only, so neither its
early stopping nor its test ever reads a generated galaxy. Both are tested on the same held-out
real galaxies, ``TEST_PER_CLASS`` of each class, that neither they nor the generator learnt from:
a rare class's recall is then measured on a hundred galaxies, not on the three a survey-proportion
test split would hold. Only a set that passed its quality gate may be used
(``generation.usable_for_training``).

The versions are of a model of the generator's own cutout size, ``<generator>-augmentation``,
kept apart from the observatory's serving morphology model: staging versions, never promoted
by the experiment.

Asking (``request_experiment``) runs in the web process; training (``experiment_job``) only on
workers (torch).
"""

import io

import numpy as np
from astropy.io import fits
from django.db import transaction

from portal.progress import finish_job, queue_job, report_progress, start_job

from . import registry
from .generation import GenerationRefused, usable_for_training
from .models import AugmentationExperiment, GeneratedSet, MLModel, ModelVersion, Visibility
from .normalisation import asinh_normalise
from .training_sets import source_for

TEST_PER_CLASS = 100
TEST_SEED = 100_000  # held-out galaxies' seeds (``SurveyGalaxies.examples_of``): apart from the quality reports'
VALIDATION_FRACTION = 0.15
MAX_EPOCHS = 50


class ExperimentRefused(ValueError):
    """An experiment that cannot mean anything; the message says why."""


def experiment_refusal(generated, epochs):
    """Why ``generated`` may not be tried in an experiment of ``epochs``, or None; asked before any work."""
    if not 1 <= epochs <= MAX_EPOCHS:
        return f"{epochs} epochs asked; an experiment trains each version for 1 to {MAX_EPOCHS}"
    return set_refusal(generated)


def set_refusal(generated):
    """Why no experiment may be run on ``generated`` at all, or None: what the set's page tells
    before offering the form."""
    try:
        usable_for_training(generated)
    except GenerationRefused as refusal:
        return str(refusal)
    generator = generated.version
    if not hasattr(source_for(generator.model.task), "examples_of") or "seed" not in generator.training_data:
        return f"{generator} did not learn from drawn galaxies, so there are none to compare with"
    model = MLModel.objects.filter(tenant=generated.tenant, name=experiment_model_name(generator)).first()
    size = generator.config["input_spec"]["size"]
    if model is not None and (model.task != MLModel.Task.MORPHOLOGY or model.input_spec.get("size") != size):
        return (f"{model.name} exists and is not a {size} px morphology model; rename it so the experiment can "
                f"register its versions")  # fmt: skip
    return None


def experiment_model_name(generator):
    return f"{generator.model.name}-augmentation"


def request_experiment(tenant, generated, user, *, epochs, seed=0):
    """``tenant``'s experiment on ``generated``, queued on gpu-batch once committed."""
    refusal = experiment_refusal(generated, epochs)
    if refusal:
        raise ExperimentRefused(refusal)
    with transaction.atomic():
        experiment = AugmentationExperiment.objects.create(
            tenant=tenant, generated_set=generated, model=_experiment_model(tenant, user, generated.version),
            epochs=epochs, seed=seed, created_by=user,
        )  # fmt: skip
        title = f"Training {experiment.model.name} with and without set {generated.pk}"
        experiment.job = start_job(tenant=tenant, user=user, kind="experiment", total=2 * epochs,
                                   subject=experiment.model, title=title)  # fmt: skip
        experiment.save(update_fields=["job"])
        queue_job(experiment.job, "mlmodels.tasks.run_experiment", tenant.pk, experiment.job.pk, experiment.pk)
    return experiment


def _experiment_model(tenant, user, generator):
    """The tenant's morphology model at the generator's cutout size that experiments on its sets
    add versions to: made at the first one."""
    name = experiment_model_name(generator)
    existing = MLModel.objects.filter(tenant=tenant, name=name).first()
    if existing is not None:
        return existing
    source = source_for(MLModel.Task.MORPHOLOGY)
    size, bands = generator.config["input_spec"]["size"], generator.config["input_spec"]["bands"]
    return registry.create_model(
        tenant, user, name=name, task=MLModel.Task.MORPHOLOGY, architecture=source.architecture,
        class_names=source.classes, input_spec={**source.input_spec, "size": size, "bands": bands},
        visibility=Visibility.TENANT,
        description=(f"Augmentation experiments on {generator.model.name}'s generated sets: morphology versions of "
                     f"{size} px trained with and without a set, on the generator's own training galaxies, and "
                     f"tested on the same held-out real galaxies. Not promoted by the experiments."),
    )  # fmt: skip


def experiment_when_judged(tenant, model, user, *, epochs):
    """The demo's experiment on the first set of ``model``'s production version, once it is judged:
    the experiment if it passed, None if it failed (nobody may train on it) or already has one,
    False while there is no judged set yet (ask again later)."""
    version = model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
    generated = version and GeneratedSet.objects.filter(tenant=tenant, version=version).order_by("pk").first()
    if generated is None or generated.gate == GeneratedSet.Gate.PENDING:
        return False
    if generated.gate == GeneratedSet.Gate.FAILED or generated.experiments.exists():
        return None
    return request_experiment(tenant, generated, user, epochs=epochs)


def experiment_sets(source, *, learnt, size, class_name, added, seed, origin, added_name):
    """(without, with): two ``training.TrainingSet`` of the same real galaxies — the ``learnt``
    ({"count", "seed"}) galaxies of ``source`` a generator (``origin``) learnt from — with the same
    fixed split, the second with ``added`` (counts, all of ``class_name``) on its training side only."""
    from .training import TrainingSet, split_by_source

    counts, labels = source.labelled(learnt["count"], seed=learnt["seed"], size=size)
    classes = list(source.classes)
    train, validation, _ = split_by_source(np.arange(len(counts)), seed=seed,
                                           fractions=(1 - VALIDATION_FRACTION, VALIDATION_FRACTION, 0.0))  # fmt: skip
    sides = np.zeros(len(counts), dtype=np.int64)
    sides[validation] = 1
    test = [source.examples_of(kind, TEST_PER_CLASS, seed=TEST_SEED + index * TEST_PER_CLASS, size=size)
            for index, kind in enumerate(classes)]  # fmt: skip
    images = asinh_normalise(np.concatenate([counts, *test]))
    rare = np.sum(labels == classes.index(class_name))
    labels = np.concatenate([labels, np.repeat(np.arange(len(classes)), TEST_PER_CLASS)])
    sides = np.concatenate([sides, np.full(len(classes) * TEST_PER_CLASS, 2)])
    real_summary = (f"{len(counts):,} real galaxies {origin} learnt from ({rare} {class_name}), split "
                    f"{len(train)}/{len(validation)}; tested on {TEST_PER_CLASS} held-out real galaxies of each "
                    f"class")  # fmt: skip
    without = TrainingSet(images, labels, np.arange(len(images)), classes, real_summary, sides=sides)
    scaled = asinh_normalise(added)
    with_set = TrainingSet(
        np.concatenate([images, scaled]),
        np.concatenate([labels, np.full(len(scaled), classes.index(class_name))]),
        np.arange(len(images) + len(scaled)), classes,
        f"{real_summary}; plus the {len(scaled)} synthetic {class_name} galaxies of {added_name}, on the training "
        f"side only",
        sides=np.concatenate([sides, np.zeros(len(scaled), dtype=np.int64)]),
    )  # fmt: skip
    return without, with_set


def sets_of(generated, *, seed):
    """``experiment_sets`` of a generated set: its generator's training galaxies, and its own."""
    generator = generated.version
    return experiment_sets(source_for(generator.model.task), learnt=generator.training_data,
                           size=int(generator.config["input_spec"]["size"]), class_name=generated.class_name,
                           added=read_cube(generated), seed=seed,
                           origin=f"{generator.model.name} v{generator.number}",
                           added_name=f"generated set {generated.pk}")  # fmt: skip


def read_cube(generated):
    """The set's galaxies (N, bands, H, W) in counts, from its stored FITS cube."""
    with generated.cube.open("rb") as stored:
        with fits.open(io.BytesIO(stored.read())) as hdus:
            return np.asarray(hdus[0].data, dtype=np.float32)


def recall_comparison(experiment, without_metrics, with_metrics, class_names, synthetic):
    """What both versions keep: each class's test recall without and with the set and the
    difference, in the model's class order (a list: JSONB keeps no key order)."""
    rows = []
    for name in class_names:
        before, after = without_metrics["per_class"][name], with_metrics["per_class"][name]
        rows.append({"class": name, "without": before["recall"], "with": after["recall"],
                     "difference": after["recall"] - before["recall"], "support": before["support"]})  # fmt: skip
    generated = experiment.generated_set
    return {"experiment": experiment.pk, "generated_set": generated.pk, "rare_class": generated.class_name,
            "synthetic_examples": synthetic, "recall": rows,
            "accuracy": {"without": without_metrics["accuracy"], "with": with_metrics["accuracy"]}}  # fmt: skip


def experiment_job(job, experiment):
    """Train both versions (each epoch moves the job's bar), then register them together with the
    comparison on each; if either cannot be registered, neither is."""
    from .training import train_classifier

    generated, model = experiment.generated_set, experiment.model
    source = source_for(model.task)
    report_progress(job, 0, "drawing the real galaxies and reading the generated set")
    without, with_set = sets_of(generated, seed=experiment.seed)
    trained = []
    for run, data in enumerate((without, with_set)):
        said = "with" if run else "without"

        def report(row, run=run, said=said):
            report_progress(job, run * experiment.epochs + row["epoch"],
                            f"{said} set {generated.pk}, epoch {row['epoch']}: validation accuracy "
                            f"{row['val_accuracy']:.3f}")  # fmt: skip

        trained.append(train_classifier(data, architecture=model.architecture, epochs=experiment.epochs,
                                        seed=experiment.seed, learning_rate=source.learning_rate,
                                        on_epoch=report))  # fmt: skip
    comparison = recall_comparison(experiment, trained[0][1], trained[1][1], list(model.class_names),
                                   synthetic=int(len(with_set.images) - len(without.images)))  # fmt: skip
    versions = _register(experiment, job, trained, (without, with_set), comparison)
    rare = next(row for row in comparison["recall"] if row["class"] == generated.class_name)
    finish_job(job, {"without": versions[0].number, "with": versions[1].number, "rare_class": generated.class_name,
                     "recall_without": round(rare["without"], 3), "recall_with": round(rare["with"], 3)},
               f"{generated.class_name} recall {rare['without']:.0%} without set {generated.pk}, {rare['with']:.0%} "
               f"with it ({rare['difference'] * 100:+.1f} points; v{versions[0].number} and "
               f"v{versions[1].number})")  # fmt: skip
    return experiment


def _register(experiment, job, trained, datasets, comparison):
    """Both versions, each with the comparison and which side of it it is, in one transaction; the
    first one's artifact is removed if the second cannot be saved."""
    from .training import weights_of

    model, saved = experiment.model, []
    config = {"pretrained_cfg": {"normalisation": model.input_spec["normalisation"]}}
    try:
        with transaction.atomic():
            for with_set, ((network, metrics), data) in enumerate(zip(trained, datasets)):
                training_data = {"summary": data.summary, "generator": source_for(model.task).generator,
                                 "count": int(np.sum(data.sides != 2)), "seed": experiment.seed,
                                 "split": metrics["split"], "experiment": experiment.pk,
                                 "generated_set": experiment.generated_set_id if with_set else None}  # fmt: skip
                saved.append(registry.save_version(model, job.created_by, weights=weights_of(network), metrics=metrics,
                                                   config=config, training_data=training_data))  # fmt: skip
            numbers = {"without": saved[0].number, "with": saved[1].number}
            for with_set, version in enumerate(saved):
                version.metrics["augmentation"] = {**comparison, "versions": numbers, "with_set": bool(with_set)}
                version.save(update_fields=["metrics"])
            experiment.without_set, experiment.with_set = saved
            experiment.save(update_fields=["without_set", "with_set"])
    except BaseException:
        for version in saved:
            registry.delete_artifact(version)
        raise
    return saved
