"""Learned fusion served: a target imaged from two or more sites gets one class from all its
images at once (``networks.SetFusionTransformer``), on a gpu worker, with how far each image
was trusted and what each alone suggested. Every image is described to the network as the
training sets described theirs (``multi_site.conditions``): the seeing its header reports and
its noise measured on its pixels; nothing else about a stored image is known.

Only worker code imports this module (torch).
"""

import io
from dataclasses import dataclass

import numpy as np
import torch
from astropy.io import fits
from django.conf import settings
from django.db.models import Prefetch
from torch.nn import functional

from observations.fits import ImageError, read_cube
from observations.models import TargetImage

from .inference import Refused, resized
from .models import FusedPrediction
from .multi_site import conditions, header_seeing, stacked
from .normalisation import asinh_normalise
from .runtime import device, folded, loaded, threads

MOST_IMAGES = 8  # the newest images of a target one answer reads
BATCH = 64  # targets a forward pass


@dataclass
class _Read:
    image_id: int
    site: str
    seeing_arcsec: float | None
    array: np.ndarray  # normalised, as the network reads it
    conditions: list


def classify_targets(version, targets):
    """Classify ``targets`` with the fusion ``version`` and store the answers, replacing its
    earlier ones; returns how many were classified. A target whose readable images come from
    fewer than two sites is refused, saying so and naming each image left out and why."""
    network, config = loaded(version, folded)
    names = config["label_names"]
    answers, ready = [], []
    newest_first = TargetImage.objects.select_related("site").order_by("-created_at", "-pk")
    for target in targets.prefetch_related(Prefetch("images", queryset=newest_first)):
        read, left_out = _images_of(target, config["input_spec"])
        sites = sorted({each.site for each in read})
        if len(sites) < 2:
            refusal = (f"images from one site only ({sites[0]}): learned fusion needs two or more" if sites
                       else "no image the model can read")  # fmt: skip
            answers.append(FusedPrediction(tenant_id=target.tenant_id, version=version, target=target,
                                           left_out=left_out, refusal=refusal))  # fmt: skip
        else:
            ready.append((target, read, left_out))
    for start in range(0, len(ready), BATCH):
        chunk = ready[start : start + BATCH]
        outputs = _forward(network, chunk)
        for row, (target, read, left_out) in enumerate(chunk):
            answers.append(_answer(version, names, target, read, left_out, {key: value[row] for key, value in
                                                                              outputs.items()}))  # fmt: skip
    FusedPrediction.objects.bulk_create(
        answers, update_conflicts=True, unique_fields=["version", "target"],
        update_fields=["label", "confidence", "probabilities", "uncertainty", "observations", "left_out", "refusal",
                       "created_at"],
    )  # fmt: skip
    return len(ready)


def _images_of(target, input_spec):
    """(the newest MOST_IMAGES images the network can read, as _Read; the others, each with
    the reason it was left out)."""
    known = input_spec["sites"]
    read, left_out = [], []
    for image in target.images.all():  # newest first, fetched with the others' (classify_targets)
        site = image.site.code if image.site else None
        if site is None:
            reason = "no site: the network weighs each image by where it was taken"
        elif site not in known:
            reason = f"site {site} is not one the model was trained on ({', '.join(known)})"
        elif len(read) == MOST_IMAGES:
            reason = f"older than the newest {MOST_IMAGES}"
        else:
            try:
                read.append(_read(image, site, input_spec))
                continue
            except (ImageError, Refused) as error:
                reason = str(error)
            except OSError as error:
                reason = f"the stored file cannot be read ({error})"
        left_out.append({"image": image.pk, "site": site, "reason": reason[:200]})
    return read, left_out


def _read(image, site, input_spec):
    """One image as the network reads it, described as the training sets describe theirs.
    Only cutouts of the side it learnt from are read: resized, an image's seeing and noise in
    the network's pixels would be ones it never saw (a survey cutout halved looks sharper and
    deeper than any site's night), and its answer would be a guess."""
    with image.file.open("rb") as stored:
        data = stored.read()
    cube, bands, _ = read_cube(data)
    size = int(input_spec["size"])
    if min(cube.shape[1:]) != size:
        raise Refused(f"{cube.shape[2]}×{cube.shape[1]} px: the network reads the {size}-px cutouts it learnt from, "
                      "whose seeing and noise resizing would change")  # fmt: skip
    planes = resized(cube, bands, input_spec)  # refuses, naming why, what it cannot make into the network's input
    seeing = header_seeing(fits.getheader(io.BytesIO(data)))
    return _Read(image.pk, site, seeing, asinh_normalise(planes[None])[0], conditions(planes, seeing))


def _forward(network, chunk):
    """The network's outputs, as numpy, for a chunk of (target, read, left out)."""
    arrays = stacked([[(each.array, each.site, each.conditions) for each in read] for _, read, _ in chunk],
                     most=max(len(read) for _, read, _ in chunk))  # fmt: skip
    inputs = [torch.from_numpy(arrays[key]).to(device()) for key in ("images", "sites", "conditions", "present")]
    with threads(settings.INFERENCE_THREADS), torch.inference_mode():
        outputs = network(*inputs)
    return {
        "probabilities": functional.softmax(outputs["logits"].float(), 1).cpu().numpy(),
        "uncertainty": torch.sigmoid(outputs["uncertainty"].float()).cpu().numpy(),
        "attention": outputs["attention"].float().cpu().numpy(),
        "single": functional.softmax(outputs["single"].float(), 2).cpu().numpy(),
    }


def _answer(version, names, target, read, left_out, outputs):
    probabilities = outputs["probabilities"]
    best = int(probabilities.argmax())
    observations = []
    for column, each in enumerate(read):
        own = outputs["single"][column]
        observations.append({
            "image": each.image_id, "site": each.site, "seeing_arcsec": each.seeing_arcsec,
            "weight": round(float(outputs["attention"][column]), 4), "label": names[int(own.argmax())],
            "confidence": round(float(own.max()), 4),
        })  # fmt: skip
    return FusedPrediction(
        tenant_id=target.tenant_id, version=version, target=target, label=names[best],
        confidence=float(probabilities[best]), uncertainty=float(outputs["uncertainty"]),
        probabilities={name: round(float(p), 5) for name, p in zip(names, probabilities)},
        observations=observations, left_out=left_out, refusal="",
    )  # fmt: skip
