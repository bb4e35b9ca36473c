"""The demo's models and galaxy images: the models registered at first start and trained
there, on the gpu-batch worker, then promoted, so every demo alert, galaxy and frame is
classified minutes after the portal is up; the images drawn by the synthetic galaxy generator."""

import functools
import hashlib

import numpy as np
from django.db import transaction

from observations.images import add_target_images
from observations.models import Target, TargetImage
from portal.celery import send
from portal.models import Job, Site
from portal.progress import job_subject

from . import services
from .generation import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .models import MLModel, Visibility
from .multi_site import observe_from
from .synthetic_galaxies import galaxy_light, make_galaxy

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
    ("multi-site-fusion", MLModel.Task.FUSION, 1500, 12,
     "Learned fusion: one morphology from a galaxy seen by 2–4 of the sites through their own seeing and sky (some "
     "frames spoilt): a set transformer with a learned site embedding, 4 layers, 8 heads, 256 dimensions, compared "
     "with the best single site and the average of the sites on the same held-out sets."),
    ("frame-inpainting", MLModel.Task.INPAINTING, 3000, 6,
     "Fills the masked pixels of a frame (a satellite trail, cosmic rays, bad columns) by masked reverse diffusion "
     "(RePaint): an unconditional U-Net with attention learnt from 32 px patches of clean synthetic frames, each in "
     "its frame's asinh scale of the sky's noise."),
    ("galaxy-diffusion", MLModel.Task.GENERATIVE, 3000, 48,
     "Class-conditional diffusion: g, r, z galaxies of 32 px of any of the six classes, from a U-Net with attention "
     "(v-prediction, cosine schedule, classifier-free guidance) trained on galaxies in survey proportions, where "
     "mergers are 3%, for mergers: it draws them in nine examples of ten. Sampled with DDIM."),
]  # fmt: skip
# The generated set the demo asks for once its generator is trained: the rare class.
DEMO_GENERATION = {"model": "galaxy-diffusion", "class_name": "merger", "count": 64, "steps": DEFAULT_STEPS,
                   "guidance": DEFAULT_GUIDANCE}  # fmt: skip
# The augmentation experiment the demo asks for once that set is judged: only if it passed its gate.
DEMO_EXPERIMENT = {"model": "galaxy-diffusion", "epochs": 10}
# The repair the demo asks for once its inpainter is trained: the trail its frame-quality model is surest of.
DEMO_REPAIR = {"model": "frame-inpainting", "steps": 25, "resample": 4, "samples": 4, "seed": 1}
# What is asked of a demo model once trained: the task queued behind its training, and what it is asked.
DEMO_FOLLOW_UPS = (("generate_when_trained", DEMO_GENERATION), ("experiment_when_judged", DEMO_EXPERIMENT),
                   ("repair_first_flagged", DEMO_REPAIR))  # fmt: skip


def load_demo_models(tenant, user):
    """Register the demo models (public, so the second demo observatory uses them too) and
    queue each one's first training with promotion, unless it has a version or a training
    that has not failed. The gpu-batch worker takes them one after the other."""
    jobs = []
    for name, task, examples, epochs, description in DEMO_MODELS:
        model = MLModel.objects.filter(tenant=tenant, name=name).first() or services.create_task_model(
            tenant, user, name=name, task=task, visibility=Visibility.PUBLIC, description=description
        )  # fmt: skip
        training = Job.objects.filter(tenant=tenant, kind="training", subject=job_subject(model))
        if model.versions.exists() or training.exclude(status=Job.Status.FAILED).exists():
            continue
        # The generator is trained for the class the demo then asks of it: the rare one.
        focus = DEMO_GENERATION["class_name"] if name == DEMO_GENERATION["model"] else None
        job = services.queue_training(model, user, examples=examples, epochs=epochs, promote=True, focus=focus)
        jobs.append(job)
        for task_name, asked in DEMO_FOLLOW_UPS:
            if name == asked["model"]:
                options = {key: value for key, value in asked.items() if key != "model"}
                transaction.on_commit(functools.partial(send, f"mlmodels.tasks.{task_name}", tenant.pk, model.pk,
                                                        user.pk, **options))  # fmt: skip
    return jobs


# The morphology each famous galaxy's demo image is drawn with (the synthetic generator's classes).
MORPHOLOGY = {
    "M31": "spiral", "M33": "spiral", "M51": "merger", "M81": "spiral", "M82": "irregular", "M101": "spiral",
    "M104": "edge_on", "M87": "elliptical", "M64": "spiral", "M63": "spiral", "M74": "spiral",
    "M77": "barred_spiral", "M83": "barred_spiral", "M94": "spiral", "M106": "spiral", "NGC 253": "edge_on",
    "NGC 300": "spiral", "NGC 891": "edge_on", "NGC 1300": "barred_spiral", "NGC 1365": "barred_spiral",
    "NGC 2403": "spiral", "NGC 2841": "spiral", "NGC 3628": "edge_on", "NGC 4038": "merger", "NGC 4565": "edge_on",
    "NGC 4631": "edge_on", "NGC 5128": "elliptical", "NGC 6946": "spiral", "NGC 7331": "spiral",
    "NGC 7479": "barred_spiral", "IC 342": "spiral", "LMC": "irregular", "SMC": "irregular",
}  # fmt: skip


def load_demo_galaxy_images(tenant):
    """A g/r/z image of every demo galaxy that has none, drawn by the synthetic generator
    (seeded by the name, so the same galaxy always looks the same), credited to the site
    that would see it: the northern sites in turn, Siding Spring in the south."""
    galaxies = (Target.objects.filter(tenant=tenant, tags__contains=["demo"], kind__in=["galaxy", "qso"])
                .exclude(pk__in=TargetImage.objects.values("target_id")).order_by("name"))  # fmt: skip
    sites = {site.code: site for site in Site.objects.filter(tenant=tenant, code__in=["tfn", "elp", "coj"])}
    by_site = {}
    for number, target in enumerate(galaxies):
        if target.name not in MORPHOLOGY and "field" not in target.tags:
            continue  # a quasar without a host to draw
        galaxy = demo_galaxy(target.name)
        site = sites.get("coj" if target.dec_deg < 0 else ("tfn", "elp")[number % 2])
        by_site.setdefault(site, []).append((target, galaxy.fits_bytes(), "synthetic g/r/z survey"))
    for site, items in by_site.items():
        add_target_images(tenant, items, site=site)
    return sum(len(items) for items in by_site.values()) + load_demo_site_images(tenant, sites)


# Galaxies near the equator, which every site sees: each also has a cutout of one night from
# each site, for learned fusion to read together.
SEEN_FROM_EVERY_SITE = ["M87", "M104", "M77", "NGC 4038", "NGC 3628", "M64"]


def load_demo_site_images(tenant, sites):
    """A 32-px g/r/z cutout of one night from each site (its own seeing, sky and now and then
    a satellite trail, as ``multi_site`` draws them) of each galaxy in SEEN_FROM_EVERY_SITE
    that has none yet: the demo's targets imaged from several sites."""
    galaxies = (Target.objects.filter(tenant=tenant, tags__contains=["demo"], name__in=SEEN_FROM_EVERY_SITE)
                .exclude(images__source__startswith="one night at"))  # fmt: skip
    added = 0
    for target in galaxies:
        seed = demo_seed(target.name)
        light = galaxy_light(seed, MORPHOLOGY[target.name], size=32).light
        rng = np.random.default_rng(seed)
        for code in ("tfn", "elp", "coj"):
            seen = observe_from(code, light, rng)
            add_target_images(tenant, [(target, seen.fits_bytes(), f"one night at {code}")], site=sites[code])
            added += 1
    return added


def demo_galaxy(name):
    """The synthetic galaxy a demo target's image is drawn from: seeded by the name, so the same
    galaxy always looks the same, and its true answers are known (the labeling demo's votes)."""
    return make_galaxy(demo_seed(name), kind=MORPHOLOGY.get(name))


def demo_seed(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
