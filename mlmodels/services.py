"""Work done on the ``gpu`` workers."""

import statistics
import time

import numpy as np

from portal.progress import finish_job, report_progress

from . import registry
from .synthetic_galaxies import KINDS


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


def synthetic_training_refusal(model):
    """Why ``model`` cannot learn from the synthetic galaxies, or None; asked before any work
    (the page asks it too, so nobody waits for a worker to say no)."""
    if list(model.class_names) != list(KINDS):
        return (f"{model.name} predicts {', '.join(model.class_names)}; the synthetic galaxies "
                f"are labelled {', '.join(KINDS)}")  # fmt: skip
    return None


def train_version(model, user, *, galaxies, epochs, seed=0, on_epoch=None):
    """Train the model's next version on synthetic galaxies (the labelled source there is until
    volunteers' votes arrive) and register it, in staging, with its metrics and history."""
    from . import training  # torch: only on the workers that train

    refusal = synthetic_training_refusal(model)
    if refusal:
        raise training.TrainingRefused(refusal)
    size = int(model.input_spec.get("size", 64))
    data = training.galaxy_training_set(galaxies, seed=seed, size=size)
    network, metrics = training.train_classifier(data, architecture=model.architecture, epochs=epochs, seed=seed,
                                                 on_epoch=on_epoch)  # fmt: skip
    return registry.save_version(
        model, user, weights=training.weights_of(network), metrics=metrics,
        config={"pretrained_cfg": {"input_size": [len(data.images[0]), size, size], "normalisation": "asinh-noise"}},
        training_data={"summary": data.summary, "generator": "mlmodels.synthetic_galaxies", "count": galaxies,
                       "seed": seed, "split": metrics["split"]},
    )  # fmt: skip


def train_version_job(job, model, *, galaxies, epochs, seed=0):
    """train_version for the job page: each epoch moves the bar, names its scores and
    extends the curve the page draws."""
    history = []

    def report(row):
        history.append(row)
        message = f"epoch {row['epoch']}: training loss {row['train_loss']:.3f}, validation accuracy "
        message += f"{row['val_accuracy']:.3f}"
        report_progress(job, row["epoch"], message, partial_result={"history": history})

    version = train_version(model, job.created_by, galaxies=galaxies, epochs=epochs, seed=seed, on_epoch=report)
    finish_job(job, {"model": model.name, "version": version.number, "accuracy": round(version.metrics["accuracy"], 4),
                     "history": version.metrics["history"]},
               f"{model.name} v{version.number}: test accuracy {version.metrics['accuracy']:.3f}")  # fmt: skip
    return version
