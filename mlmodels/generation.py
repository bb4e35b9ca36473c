"""Generated sets: galaxies of one class asked of a generative version, made on a ``gpu-batch``
worker with progress, stored flagged synthetic with what made them, and judged against real
galaxies (``generation_quality``) before anyone may train on them.

Asking (``request_generation``) and the gate (``usable_for_training``) run in the web
process; making and judging a set (``generate_set_job``) only on workers (torch).
"""

import io
import secrets

import numpy as np
from astropy.io import fits
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from portal.progress import finish_job, queue_job, report_progress, start_job

from . import generation_quality
from .models import GeneratedSet, MLModel, ModelVersion
from .normalisation import asinh_sky, from_asinh_sky
from .training_sets import source_for

GRID_SIDE = 8  # cells a row of the shuffled grid
GRID_CELL_PX = 64
REFERENCE_GALAXIES = 200  # real galaxies a generated set and its real-vs-real comparison are both measured from
# What a set is sampled with unless asked otherwise. Guidance 1 is the class's own prediction;
# above it, guidance pushes each class away from the rest, at the steps where a galaxy's layout
# is decided only (``diffusion.sample``). There 3 brings mergers closer to real ones (1.47× to
# 1.36× real against real, 24 sets of the demo's generator). At every step, as it once was, it
# made an earlier generator's ellipticals 0.2 mag too red (3.0× at guidance 1, 7.5× at 2).
DEFAULT_STEPS, DEFAULT_GUIDANCE = 50, 3.0


class GenerationRefused(ValueError):
    """A generation that would not mean anything, or a set that may not be used; the message says why."""


def generation_refusal(version, class_name, count):
    """Why ``version`` may not be asked for ``count`` galaxies of ``class_name``, or None: asked
    before any work, by the page and the API alike."""
    model = version.model
    if model.task != MLModel.Task.GENERATIVE:
        return f"{model.name} is a {model.get_task_display().lower()} model; only a generative model makes galaxies"
    if version.stage == ModelVersion.Stage.ARCHIVED:
        return f"{version} is archived; promote it again to use it"
    classes = version.config.get("label_names") or list(model.class_names)
    if class_name not in classes:
        return f"{model.name} makes {', '.join(classes)}; not {class_name!r}"
    if not 1 <= count <= settings.GENERATION_MAX_IMAGES:
        return f"{count} galaxies asked; a set holds 1 to {settings.GENERATION_MAX_IMAGES} at once"
    learnt = version.metrics.get("examples_per_class", {}).get(class_name, 0)
    if learnt < settings.GENERATION_MIN_CLASS_EXAMPLES:
        return (f"v{version.number} learnt from only {learnt} real {class_name} galaxies; at least "
                f"{settings.GENERATION_MIN_CLASS_EXAMPLES} are needed before its {class_name} galaxies mean "
                f"anything")  # fmt: skip
    return None


def request_generation(tenant, version, user, **asked):
    """``tenant``'s set (the version may be another observatory's public one), empty until its job
    (queued on gpu-batch once committed) has made and judged it."""
    with transaction.atomic():
        generated = new_generated_set(tenant, version, user, **asked)
        queue_job(generated.job, "mlmodels.tasks.generate", generated.tenant_id, generated.job.pk, generated.pk)
    return generated


def new_generated_set(tenant, version, user, *, class_name, count, steps, guidance, seed=None):
    """The set asked for, with its job waiting, and nothing made yet; GenerationRefused if
    ``version`` cannot answer. A worker (``request_generation``) or a command makes it."""
    refusal = generation_refusal(version, class_name, count)
    if refusal:
        raise GenerationRefused(refusal)
    with transaction.atomic():
        generated = GeneratedSet.objects.create(
            tenant=tenant, version=version, class_name=class_name, count=count, created_by=user,
            seed=secrets.randbelow(2**31) if seed is None else seed,
            sampler={"name": "ddim", "steps": steps, "guidance": guidance, "eta": 0.0},
        )  # fmt: skip
        generated.job = start_job(tenant=tenant, user=user, kind="generation", total=count + 1,
                                  subject=generated, title=f"Generating {generated}")  # fmt: skip
        generated.save(update_fields=["job"])
    return generated


def generate_when_trained(tenant, model, user, **asked):
    """Ask ``model``'s production version for a set, if it has one by now; queued on gpu-batch
    behind the model's first training, so a new observatory's generator shows a set of its own
    without anyone waiting for the training to end. None when there is still no version, or it
    has made a set already (a second delivery of the same message)."""
    version = model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
    if version is None or GeneratedSet.objects.filter(tenant=tenant, version=version).exists():
        return None
    return request_generation(tenant, version, user, **asked)


def usable_for_training(generated):
    """``generated``, if its quality report passed the gate; else GenerationRefused saying why."""
    if generated.gate == GeneratedSet.Gate.PASSED:
        return generated
    if generated.gate == GeneratedSet.Gate.PENDING:
        raise GenerationRefused(f"set {generated.pk} is not judged yet; wait for its quality report")
    raise GenerationRefused(f"set {generated.pk} failed the quality gate ({'; '.join(generated.gate_reasons)}) "
                            f"and may not be trained on")  # fmt: skip


def generate_set_job(job, generated, batch_size=32, on_progress=None):
    """Make the set's galaxies in batches (each batch moves the job's bar, and is told to
    ``on_progress(message)``), store them, then judge them; the set's page reloads with its
    report when the job is done."""
    import torch

    from .diffusion import GUIDED_STEPS, sample
    from .runtime import device, registered_network

    def tell(done, message):
        report_progress(job, done, message)
        if on_progress is not None:
            on_progress(message)

    version = generated.version
    network, config = registered_network(version)
    network = network.to(device()).eval()
    size, bands = int(config["input_spec"]["size"]), list(config["input_spec"]["bands"])
    band_noise = config["pretrained_cfg"]["band_noise"]
    index = config["label_names"].index(generated.class_name)
    steps, guidance = generated.sampler["steps"], generated.sampler["guidance"]
    generated.sampler["guided_steps"] = list(GUIDED_STEPS)  # what the worker's sampler guides, for the record
    scaled = []
    for start in range(0, generated.count, batch_size):
        seeds = range(generated.seed + start, generated.seed + min(start + batch_size, generated.count))
        classes = torch.full((len(seeds),), index, dtype=torch.long)
        scaled.append(sample(network, classes, seeds, size=size, steps=steps, guidance=guidance).float().cpu().numpy())
        tell(start + len(seeds), f"{start + len(seeds)} of {generated.count} galaxies made ({steps} DDIM steps, "
                                 f"guidance {guidance:g})")  # fmt: skip
    scaled = np.concatenate(scaled)
    counts = from_asinh_sky(scaled, band_noise)
    tell(generated.count, "judging them against real galaxies")
    source = source_for(version.model.task)
    real = source.examples_of(generated.class_name, REFERENCE_GALAXIES + generated.count, seed=0, size=size)
    reference, comparison = real[:REFERENCE_GALAXIES], real[REFERENCE_GALAXIES:]
    report = quality_report(generated, counts, scaled, reference, comparison, config)
    passed, reasons = generation_quality.gate(report, settings.GENERATION_GATE)
    generated.report, generated.gate_reasons = report, reasons
    generated.gate = GeneratedSet.Gate.PASSED if passed else GeneratedSet.Gate.FAILED
    generated.cube.save("galaxies.fits", ContentFile(_cube_fits(generated, counts, bands)), save=False)
    shown = min(generated.count, GRID_SIDE * 4)  # as many real galaxies as generated ones, in four rows at most
    grid, generated.grid_key = _shuffled_grid(counts[:shown], comparison[:shown], seed=generated.seed)
    generated.grid.save("grid.png", ContentFile(grid), save=False)
    generated.save(update_fields=["sampler", "report", "gate", "gate_reasons", "cube", "grid", "grid_key"])
    ratio = report["synthetic_galaxy_distance"]["ratio"]
    finish_job(job, {"set": generated.pk, "gate": generated.gate, "distance_ratio": round(ratio, 2)},
               f"{generated.count} {generated.class_name} galaxies made; quality gate {generated.gate}")  # fmt: skip
    return generated


def quality_report(generated, counts, scaled, reference, comparison, config):
    """``generation_quality.report`` of ``counts`` (and the same galaxies in the network's scale)
    against the real galaxies of the class ``reference``, beside ``comparison``, as many other
    real ones as were generated; with the version's training galaxies of the class drawn again,
    and the tenant's morphology encoder for the Fréchet distance."""
    version = generated.version
    source = source_for(version.model.task)
    size, bands = int(config["input_spec"]["size"]), list(config["input_spec"]["bands"])
    training = _training_galaxies(version, source, generated.class_name, size)
    return generation_quality.report(
        counts, scaled, reference, comparison, training, bands=bands, zero_point=source.zero_point,
        band_noise=config["pretrained_cfg"]["band_noise"],
        frechet=_frechet(generated.tenant, bands, counts, comparison, reference),
    )  # fmt: skip


def _training_galaxies(version, source, class_name, size):
    """The version's training galaxies of ``class_name``, in the network's scale, drawn again from
    what its training data records."""
    counts, _ = source.labelled(version.training_data["count"], seed=version.training_data["seed"], size=size,
                                only=class_name)  # fmt: skip
    return asinh_sky(counts, source.band_noise)


def _frechet(tenant, bands, counts, comparison, reference):
    """The Fréchet distances of the generated and real comparison sets from the reference on the
    encoder of the tenant's production morphology model (its pooled features, as "similar
    galaxies" reads them); None with the reason when there is none to read them."""
    from .inference import Refused
    from .runtime import device, registered_network
    from .services import production_versions

    encoder = production_versions(tenant, MLModel.Task.MORPHOLOGY).first()
    if encoder is None:
        return {"reason": "no morphology model in production to read the galaxies' features"}
    network, config = registered_network(encoder)
    network = network.to(device()).eval()
    try:
        features = [encoded(network, config["input_spec"], bands, cubes) for cubes in (counts, comparison, reference)]
    except Refused as refusal:
        return {"reason": f"{encoder.model.name} v{encoder.number} cannot read them: {refusal}"}
    return {**generation_quality.frechet_figures(*features), "encoder": f"{encoder.model.name} v{encoder.number}"}


def encoded(network, input_spec, bands, cubes, batch_size=256):
    """The pooled features (N, D) a timm classifier's encoder gives cutouts ``cubes`` in counts,
    each made into its input as inference makes a target image's (``inference.prepare``)."""
    import torch

    from .inference import prepare

    target = next(network.parameters()).device
    features = []
    for start in range(0, len(cubes), batch_size):
        images = np.stack([prepare(cube, bands, input_spec) for cube in cubes[start : start + batch_size]])
        with torch.inference_mode():
            pooled = network.forward_head(network.forward_features(torch.from_numpy(images).to(target)),
                                          pre_logits=True)  # fmt: skip
        features.append(pooled.float().cpu().numpy())
    return np.concatenate(features)


def _cube_fits(generated, counts, bands):
    """The set as one FITS cube, its provenance in the header: nobody reading the file alone can
    take it for real data."""
    header = fits.Header()
    header["SYNTHETI"] = (True, "generated galaxies, not observed")
    header["GENSET"] = (generated.pk, "Arrayscope generated set")
    header["GENMODEL"] = (generated.version.model.name, "generative model")
    header["GENVERS"] = (generated.version.number, "its version")
    header["GENCLASS"] = (generated.class_name, "class asked for")
    header["SAMPLER"] = (generated.sampler["name"], "sampler")
    header["STEPS"] = (generated.sampler["steps"], "sampler steps")
    header["GUIDANCE"] = (generated.sampler["guidance"], "classifier-free guidance weight")
    low, high = generated.sampler["guided_steps"]
    header["GUIDHIGH"] = (high, "guided from this timestep of 1000")
    header["GUIDLOW"] = (low, "down to this one; unguided elsewhere")
    header["SEED0"] = (generated.seed, "image i starts from the noise of seed SEED0 + i")
    header["BANDS"] = (",".join(bands), "planes of each image, in order")
    header["BUNIT"] = ("count", "sky-subtracted counts")
    buffer = io.BytesIO()
    fits.PrimaryHDU(counts, header).writeto(buffer)
    return buffer.getvalue()


def _shuffled_grid(generated, real, *, seed):
    """(PNG, key): generated and real galaxies in one shuffled grid, each as the colour composite
    target images get, so an eye can try to tell them apart; the key says which cells are generated."""
    from observations.rendering import colour_png

    cubes = list(generated) + list(real)
    order = np.random.default_rng(seed).permutation(len(cubes))
    rows = -(-len(cubes) // GRID_SIDE)
    grid = Image.new("RGB", (GRID_SIDE * GRID_CELL_PX, rows * GRID_CELL_PX), "white")
    for cell, chosen in enumerate(order):
        tile = Image.open(io.BytesIO(colour_png(cubes[chosen]))).resize((GRID_CELL_PX, GRID_CELL_PX), Image.NEAREST)
        grid.paste(tile, ((cell % GRID_SIDE) * GRID_CELL_PX, (cell // GRID_SIDE) * GRID_CELL_PX))
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue(), [bool(chosen < len(generated)) for chosen in order]
