"""Frame repairs: the pixels a satellite trail, cosmic rays or bad columns spoilt — found from the
frame-quality model's flags, or drawn by a curator — filled by the tenant's inpainting model on
a ``gpu-batch`` worker (``inpainting``), stored as a new version beside the untouched original
with its mask, and the frame's targets measured again on it.

Asking (``request_repair``) runs in the web process and refuses what cannot mean anything
before any work starts; repairing (``repair_frame_job``) runs only on workers (torch).
"""

import io
import secrets

import numpy as np
from astropy.io import fits
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from observations import photometry
from observations.calibration import saturation_level
from observations.defect_masks import (
    DETECTORS,
    MaskRefused,
    check_mask,
    drawn_mask,
    flagged_mask,
    trail_mask,
    under_trails,
)
from observations.ingest import read_stored_frame
from observations.models import Frame
from observations.rendering import mask_overlay_png, preview_png
from observations.star_fitting import fitted_stars
from portal.progress import finish_job, queue_job, report_progress, start_job

from .models import FrameRepair, MLModel, ModelVersion, Prediction
from .services import production_versions

MEASURED = ("flux_adu", "flux_err_adu", "mag", "mag_err")
PROGRESS_STEPS = 100  # a repair's bar moves in percent: its patches are counted once the mask is known


class RepairRefused(ValueError):
    """A repair that cannot mean anything; the message says why."""


def inpainting_version(tenant):
    """The inpainting version serving ``tenant`` (its own model's first), or None."""
    return production_versions(tenant, MLModel.Task.INPAINTING).first()


def flagged_defects(frame):
    """The maskable defects (``DETECTORS``) the frame-quality models raised on ``frame``, most probable first."""
    raised = []
    for prediction in frame.predictions.filter(version__model__task=MLModel.Task.FRAME_QUALITY, refusal=""):
        raised += [name for name, _ in prediction.raised_flags() if name in DETECTORS and name not in raised]
    return raised


def repair_refusal(frame, version, mask_source, shapes):
    """Why ``frame`` may not be repaired so, or None; asked by the page and the API before any work."""
    if version is None:
        return "no inpainting model serves this observatory yet: train a Frame inpainting model and promote a version"
    if version.model.task != MLModel.Task.INPAINTING:
        return f"{version.model.name} is a {version.model.get_task_display().lower()} model, not an inpainting one"
    if version.stage == ModelVersion.Stage.ARCHIVED:
        return f"{version} is archived; promote it again to use it"
    size = int(version.config.get("input_spec", {}).get("size") or version.model.input_spec.get("size", 32))
    if min(frame.width_px, frame.height_px) < size:
        return f"the frame is {frame.width_px}×{frame.height_px} px, smaller than the model's {size} px patches"
    if mask_source == FrameRepair.MaskSource.FLAGS:
        if not frame.predictions.filter(version__model__task=MLModel.Task.FRAME_QUALITY, refusal="").exists():
            return "no frame-quality model has judged this frame yet, so nothing is flagged: draw the mask instead"
        if not flagged_defects(frame):
            return ("the frame-quality model flags no satellite trail or cosmic rays on this frame: draw the mask "
                    "if you see a defect")  # fmt: skip
        return None
    if mask_source == FrameRepair.MaskSource.DETECTED:
        return None  # what the detectors find is known only on the worker, which fails the job if it is nothing
    if mask_source != FrameRepair.MaskSource.DRAWN:
        return f"a mask is found from the frame's flags or drawn, not {mask_source!r}"
    try:
        check_mask(drawn_mask(shapes or {}, (frame.height_px, frame.width_px)), settings.REPAIR_MAX_MASKED_FRACTION)
    except MaskRefused as refusal:
        return str(refusal)
    return None


def request_repair(tenant, frame, user, *, mask_source, shapes=None, steps=25, resample=4, samples=4, seed=None,
                   version=None):  # fmt: skip
    """A new numbered repair of ``frame``, empty until its job (queued on gpu-batch once committed)
    has filled the mask; RepairRefused, with nothing written, when it cannot mean anything."""
    version = version or inpainting_version(tenant)
    refusal = repair_refusal(frame, version, mask_source, shapes)
    if refusal:
        raise RepairRefused(refusal)
    with transaction.atomic():
        Frame.objects.select_for_update().filter(pk=frame.pk).first()  # repairs of one frame are numbered in turn
        last = FrameRepair.objects.filter(frame=frame).order_by("-number").values_list("number", flat=True).first()
        number = 1 + (last or 0)
        repair = FrameRepair.objects.create(
            tenant=tenant, frame=frame, number=number, version=version, mask_source=mask_source,
            shapes=shapes or {}, created_by=user, seed=secrets.randbelow(2**31) if seed is None else seed,
            sampler={"name": "repaint", "steps": steps, "resample": resample, "samples": samples},
        )  # fmt: skip
        title = f"Repairing {frame.original_name} ({repair.get_mask_source_display().lower()})"
        repair.job = start_job(tenant=tenant, user=user, kind="repair", total=PROGRESS_STEPS, subject=repair,
                               title=title)  # fmt: skip
        repair.save(update_fields=["job"])
        queue_job(repair.job, "mlmodels.tasks.repair_frame", tenant.pk, repair.job.pk, repair.pk)
    return repair


def repair_first_flagged(tenant, model, user, **sampler):
    """A new observatory's first repair: of the frames in the order its frame-quality model suspects
    them of a satellite trail, the first whose pixels show one, filled by ``model``'s production
    version — from the flags when the model flagged it, else from what the detectors find (the
    demo's small model flagged a trail on a defocused frame and missed the real ones); queued behind the model's
    first training, so the demo shows a repaired frame without anyone asking. None when there is no
    version yet, or it has repaired a frame already (another delivery of the same message); False
    while no frame is flagged yet (the frame-quality backfill may still be on its way)."""
    version = model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
    if version is None or FrameRepair.objects.filter(tenant=tenant, version=version).exists():
        return None
    judged = Prediction.objects.filter(tenant=tenant, frame__isnull=False, refusal="",
                                       version__model__task=MLModel.Task.FRAME_QUALITY)  # fmt: skip
    judged = judged.select_related("frame")
    if not judged:
        return False
    for prediction in sorted(judged, key=lambda p: -p.flags.get("satellite", 0)):
        frame = prediction.frame
        if trail_mask(read_stored_frame(frame).image).any():
            flagged = prediction.flags.get("satellite", 0) >= 0.5
            source = FrameRepair.MaskSource.FLAGS if flagged else FrameRepair.MaskSource.DETECTED
            return request_repair(tenant, frame, user, mask_source=source, version=version, **sampler)
    return None


def repair_mask(repair, image):
    """(mask, masked pixels by what found them, hidden) of ``repair`` on the frame's ``image``:
    ``hidden`` are the masked pixels that hold nothing of the sky (all but a trail's, whose light
    is added to it; all of a drawn mask, whatever the curator saw there). MaskRefused when the
    mask is empty or too much, as detectors may find nothing the flags promised."""
    if repair.mask_source == FrameRepair.MaskSource.FLAGS:
        flagged = flagged_defects(repair.frame)
        mask, found, hidden = flagged_mask(image, flagged, gain=repair.frame.gain_e_per_adu)
        if not mask.any():
            words = " or ".join(name.replace("_", " ") for name in flagged)
            raise MaskRefused(f"the frame-quality model flagged {words}, but none was found in the pixels: "
                              f"draw the mask instead")  # fmt: skip
    elif repair.mask_source == FrameRepair.MaskSource.DETECTED:
        mask, found, hidden = flagged_mask(image, list(DETECTORS), gain=repair.frame.gain_e_per_adu)
        if not mask.any():
            raise MaskRefused("no trail, cosmic-ray hit or bad column was found in the pixels: draw the mask instead")
    else:
        mask = drawn_mask(repair.shapes, image.shape)
        found, hidden = {"drawn": int(mask.sum())}, mask
    return check_mask(mask, settings.REPAIR_MAX_MASKED_FRACTION), found, hidden


def repair_frame_job(job, repair):
    """Fill the repair's mask patch by patch (each batch moves the job's bar), store the repaired
    frame with its mask, and measure its targets on it; the repair's page reloads when done."""
    from .inpainting import repair_image
    from .runtime import device, registered_network

    frame = repair.frame
    parsed = read_stored_frame(frame)
    image, header = np.asarray(parsed.image, dtype=np.float32), parsed.header.merged()
    mask, repair.found, hidden = repair_mask(repair, image)
    repair.masked_pixels = int(mask.sum())
    beneath, saturated = None, image >= saturation_level(header, image)
    if (mask & ~hidden).any():  # a trail: what is under it is kept, less its light, where nothing else hides it
        beneath = under_trails(image, mask, hidden | saturated)
    repair.kept_under_trail = 0 if beneath is None else int(np.isfinite(beneath[0]).sum())
    stars = fitted_stars(image, mask, beneath=beneath, unusable=saturated)
    repair.stars_fitted = stars.count
    report_progress(job, 1, f"{repair.masked_pixels:,} pixels to fill ({_words(repair.found)})")
    network, config = registered_network(repair.version)
    network = network.to(device()).eval()
    sampler = repair.sampler

    def on_batch(done, total):
        report_progress(job, 1 + (PROGRESS_STEPS - 2) * done // total, f"{done} of {total} patches filled")

    repaired, spread = repair_image(network, image, mask, beneath=beneath, stars=stars,
                                    size=int(config["input_spec"]["size"]), seed=repair.seed, on_batch=on_batch,
                                    steps=sampler["steps"], resample=sampler["resample"],
                                    samples=sampler["samples"])  # fmt: skip
    report_progress(job, PROGRESS_STEPS - 1, "measuring the frame's targets again")
    repair.photometry = remeasured(frame, image, repaired, mask)
    written = _repaired_fits(repair, header, repaired, mask, spread, stars)
    repair.file.save("repaired.fits", ContentFile(written), save=False)
    repair.preview.save("preview.png", ContentFile(preview_png(repaired)), save=False)
    repair.mask_preview.save("mask.png", ContentFile(mask_overlay_png(image, mask)), save=False)
    repair.save(update_fields=["found", "masked_pixels", "kept_under_trail", "stars_fitted", "photometry", "file",
                               "preview", "mask_preview"])  # fmt: skip
    finish_job(job, {"repair": repair.pk, "masked_pixels": repair.masked_pixels},
               f"{repair.masked_pixels:,} pixels repaired ({_words(repair.found)})")  # fmt: skip
    return repair


def _words(found):
    return ", ".join(f"{name}: {count:,}" for name, count in found.items()) or "nothing found"


def remeasured(frame, original, repaired, mask):
    """Each of the frame's targets measured on the original and on the repair, as the ingest
    measured it (same aperture, sky annulus and zero point), with how many masked pixels its
    aperture holds: a target the mask does not reach measures the same on both."""
    rows = []
    radius = photometry.APERTURE_RADIUS_ARCSEC / frame.pixel_scale_arcsec if frame.pixel_scale_arcsec else None
    links = frame.target_links.select_related("target", "photometry").order_by("target__name")
    rows_of, columns_of = np.ogrid[: mask.shape[0], : mask.shape[1]]
    for link in links:
        measured = getattr(link, "photometry", None)
        if measured is None or radius is None:
            continue
        options = {"pixel_scale_arcsec": frame.pixel_scale_arcsec, "exptime_s": frame.exptime_s,
                   "gain": frame.gain_e_per_adu, "zero_point_mag": measured.zero_point}  # fmt: skip
        before = photometry.measure(original, link.x_px, link.y_px, **options)
        after = photometry.measure(repaired, link.x_px, link.y_px, **options)
        inside = int((mask & ((columns_of - link.x_px) ** 2 + (rows_of - link.y_px) ** 2 <= radius**2)).sum())
        rows.append({"target": link.target_id, "name": link.target.name, "x": link.x_px, "y": link.y_px,
                     "masked_in_aperture": inside, "original": {key: before[key] for key in MEASURED},
                     "repaired": {key: after[key] for key in MEASURED}})  # fmt: skip
    return rows


def _repaired_fits(repair, header, repaired, mask, spread, stars):
    """The repaired image under the original's header (WCS and all) with what repaired it, then
    the MASK (1: filled) and each filled pixel's SPREAD (over the fills, or its star's fit), in
    the image's units."""
    header = header.copy()
    for keyword in ("BSCALE", "BZERO", "BLANK", "CHECKSUM", "DATASUM"):
        header.remove(keyword, ignore_missing=True, remove_all=True)
    version = repair.version
    header.update({
        "REPAIRED": (True, "masked pixels filled by inpainting"), "REPAIRNO": (repair.number, "repair of this frame"),
        "ORIGFILE": (repair.frame.original_name[:60], "the original frame"),
        "ORIGSHA": (repair.frame.sha256[:16], "first 16 of the original's SHA-256"),
        "INPMODEL": (version.model.name[:60], "inpainting model"), "INPVERS": (version.number, "its version"),
        "MASKSRC": (repair.mask_source, "flags: from frame-quality flags; drawn: by hand"),
        "MASKPIX": (repair.masked_pixels, "pixels filled"),
        "TRAILKPT": (repair.kept_under_trail, "of them under a trail: kept less its light"),
        "STARFIT": (repair.stars_fitted, "stars there given by the frame's fitted profile"),
        "PSFFWHM": (round(stars.fwhm_px, 3), "[pixel] FWHM of the frame's profile (0: none)"),
        "PSFMISS": (round(stars.misfit, 3), "share of star light it misses (over 0.1: unused)"),
        "SAMPLER": (repair.sampler["name"], "RePaint"),
        "STEPS": repair.sampler["steps"], "RESAMPLE": repair.sampler["resample"], "NSAMPLES": repair.sampler["samples"],
        "SEED": repair.seed,
    })  # fmt: skip
    hdus = [fits.PrimaryHDU(repaired, header=header), fits.ImageHDU(mask.astype(np.uint8), name="MASK"),
            fits.ImageHDU(spread, name="SPREAD")]  # fmt: skip
    hdus[2].header["BUNIT"] = (header.get("BUNIT", "ADU"), "standard deviation of the fills")
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()
