"""Fused images of targets: asking for one (checked before anything is queued) and making it on
a worker from the target's stored frames. The science is ``observations.fusion``."""

import io
import math
from dataclasses import replace

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.module_loading import import_string

from portal.progress import queue_job, start_job

from .calibration import CalibrationRefused, calibrate, measure_stars, saturation_level
from .fusion import FrameInput, FusionRefused, aperture_snr, check_memory, fuse, grid_for, to_fits
from .ingest import read_stored_frame
from .models import Frame, FrameTarget, FusedImage
from .rendering import preview_png

SIZE_ARCSEC = (10.0, 3600.0)
DEFAULT_SIZE_ARCSEC = 120.0
APERTURE_ARCSEC = 3.0  # as the light curves' photometry (observations.photometry)


def target_frames(target, *, first_night=None, last_night=None):
    """The target's frames in the night range (UTC dates, inclusive), oldest first, each with
    the zero point its photometry of the target used: those whose footprint holds it, and
    those without astrometry whose OBJECT names it (so the fusion can say why it left them out)."""
    nights = {}
    if first_night:
        nights["obs_time__date__gte"] = first_night
    if last_night:
        nights["obs_time__date__lte"] = last_night
    links = FrameTarget.objects.filter(target=target, **{f"frame__{k}": v for k, v in nights.items()})
    located = [(link.frame, link.photometry.zero_point if hasattr(link, "photometry") else None)
               for link in links.select_related("frame__site", "photometry")]  # fmt: skip
    named = Frame.objects.filter(has_astrometry=False, object_name__iexact=target.name, **nights).select_related("site")
    frames = located + [(frame, None) for frame in named]
    return sorted(frames, key=lambda pair: (pair[0].obs_time, pair[0].pk))


def request_fusion(tenant, user, target, *, band, method=FusedImage.Method.INTERP, size_arcsec=DEFAULT_SIZE_ARCSEC,
                   pixel_scale_arcsec=None, first_night=None, last_night=None):  # fmt: skip
    """A FusedImage waiting for its job, or FusionRefused saying why not, before anything is
    stored or queued: no frame of the band in the nights asked, a field too large, a fusion
    that would not fit in a worker's memory."""
    if method not in FusedImage.Method.values:
        raise FusionRefused(f"Unknown resampling {method!r}; choose {' or '.join(FusedImage.Method.values)}.", "method")
    if not SIZE_ARCSEC[0] <= size_arcsec <= SIZE_ARCSEC[1]:
        raise FusionRefused(
            f"The field's side must be {SIZE_ARCSEC[0]:g}–{SIZE_ARCSEC[1]:g}″, not {size_arcsec:g}″.", "size_arcsec"
        )
    if first_night and last_night and first_night > last_night:
        raise FusionRefused(f"The first night ({first_night}) is after the last ({last_night}).", "first_night")
    frames = target_frames(target, first_night=first_night, last_night=last_night)
    in_band = [frame for frame, _ in frames if frame.filter_name == band]
    if not in_band:
        bands = sorted({frame.filter_name for frame, _ in frames})
        nights = f" between {first_night or 'the first night'} and {last_night or 'the last'}" if (
            first_night or last_night) else ""  # fmt: skip
        raise FusionRefused(
            f"{target} has no frames in {band}{nights}"
            + (f"; it has frames in {', '.join(bands)}." if bands else "; it has no frames at all."),
            "band",
        )
    scales = [frame.pixel_scale_arcsec for frame in in_band if frame.has_astrometry and frame.pixel_scale_arcsec]
    pixel_scale_arcsec = pixel_scale_arcsec or (min(scales) if scales else 1.0)
    grid = grid_for(target.ra_deg, target.dec_deg, size_arcsec=size_arcsec, pixel_scale_arcsec=pixel_scale_arcsec,
                    max_pixels=settings.FUSION_MAX_PIXELS)  # fmt: skip
    check_memory(grid, [frame.width_px * frame.height_px for frame in in_band], settings.FUSION_MAX_BYTES)
    with transaction.atomic():
        job = start_job(tenant=tenant, user=user, kind="fusion", title=f"Fuse {target} in {band}",
                        total=progress_steps(frames), subject=target)  # fmt: skip
        fused = FusedImage.objects.create(
            tenant=tenant, target=target, band=band, method=method, size_arcsec=size_arcsec,
            pixel_scale_arcsec=pixel_scale_arcsec, first_night=first_night, last_night=last_night, job=job,
            created_by=user,
        )  # fmt: skip
        queue_job(job, "observations.tasks.fuse_target_frames", tenant.pk, job.pk, fused.pk)
    return fused


def progress_steps(frames):
    """A fusion's steps, for its progress bar: each frame read, each resampled, the file written."""
    return 2 * len(frames) + 1


def make_fused_image(fused, progress):
    """Read the target's frames, fuse them and store the FITS file, its preview and the frames'
    account on ``fused``; ``progress(steps done, message)`` as each frame is read and resampled.
    Raises FusionRefused when no frame is usable, naming each one's reason."""
    target = fused.target
    frames = target_frames(target, first_night=fused.first_night, last_night=fused.last_night)
    vetoes = frame_vetoes(fused.tenant, [frame for frame, _ in frames])
    inputs = []
    for number, (frame, zero_point) in enumerate(frames, start=1):
        inputs.append(_frame_input(frame, zero_point, fused.band, vetoes.get(frame.pk, "")))
        progress(number, f"read frame {number} of {len(frames)}")
    inputs, calibration = calibrated(inputs, fused.band)
    grid = grid_for(target.ra_deg, target.dec_deg, size_arcsec=fused.size_arcsec,
                    pixel_scale_arcsec=fused.pixel_scale_arcsec, max_pixels=settings.FUSION_MAX_PIXELS)  # fmt: skip
    fusion = fuse(inputs, band=fused.band, grid=grid, method=fused.method, max_bytes=settings.FUSION_MAX_BYTES,
                  aperture=(target.ra_deg, target.dec_deg, APERTURE_ARCSEC),
                  progress=lambda done, _, message: progress(len(frames) + done, message))  # fmt: skip
    for entry in fusion.used:
        entry.update(calibration.get(entry["id"], {}))
    _, snr = aperture_snr(fusion.science, fusion.uncertainty, target.ra_deg, target.dec_deg, fusion.grid.wcs,
                          APERTURE_ARCSEC)  # fmt: skip
    singles = [each["snr"] for each in fusion.used if each.get("snr")]
    buffer = io.BytesIO()
    to_fits(fusion, title=target.name).writeto(buffer)
    fused.frames_used, fused.frames_rejected = fusion.used, fusion.rejected
    fused.snr = snr
    fused.best_single_snr = max(singles) if singles else None
    fused.theoretical_snr = math.sqrt(sum(each**2 for each in singles)) if singles else None
    with transaction.atomic():
        fused.file.save(f"{fused.band}.fits", ContentFile(buffer.getvalue()), save=False)
        fused.preview.save(f"{fused.band}.png", ContentFile(preview_png(fusion.science)), save=False)
        fused.save()
    progress(progress_steps(frames), f"fused {len(fusion.used)} frames, left out {len(fusion.rejected)}")
    return fused


def calibrated(inputs, band):
    """The frames with their zero points tied to one scale by the stars they share
    (``observations.calibration``, anchored on their own zero points by the median, so one
    site's wrong one is outvoted), and {frame id: what each one's zero point was and became}.
    When the frames cannot be tied (too few stars in common), each keeps its own, saying why."""
    usable = [each for each in inputs if each.band == band and each.data is not None and each.wcs is not None
              and each.zero_point is not None and not each.veto]  # fmt: skip
    if len(usable) < 2:
        return inputs, {}
    stars = [measure_stars(each.id, each.label, each.data, each.wcs, each.exptime_s, gain=each.gain,
                           saturation_adu=each.saturation_adu) for each in usable]  # fmt: skip
    try:
        fitted = calibrate(stars, {each.id: each.zero_point for each in usable})
    except CalibrationRefused as refusal:
        return inputs, {each.id: {"zero_point_own": each.zero_point, "calibration": str(refusal)} for each in usable}
    notes = {}
    for each in usable:
        stars_used = fitted.stars_used[each.id]
        if each.id in fitted.zero_points:
            notes[each.id] = {"zero_point_own": each.zero_point, "zero_point_error": fitted.errors[each.id],
                              "calibration": f"on {stars_used} stars shared with the other frames"}  # fmt: skip
        else:
            notes[each.id] = {"zero_point_own": each.zero_point,
                              "calibration": f"its own kept: {stars_used} stars in common with the others"}  # fmt: skip
    tied = [replace(each, zero_point=fitted.zero_points[each.id]) if each.id in fitted.zero_points else each
            for each in inputs]  # fmt: skip
    return tied, notes


def frame_vetoes(tenant, frames):
    """{frame id: reason} from every veto in ``settings.FRAME_VETOES`` (the first reason wins)."""
    vetoes = {}
    for path in reversed(settings.FRAME_VETOES):
        vetoes.update(import_string(path)(tenant, frames))
    return vetoes


def _frame_input(frame, zero_point, band, veto):
    """The frame as the fusion takes it; its pixels are read only when it will be used."""
    data = wcs = saturation = None
    if frame.filter_name == band and frame.has_astrometry and not veto:
        parsed = read_stored_frame(frame)  # as it was ingested: gzip, fpack, extensions, SIP
        data, wcs, saturation = parsed.image, parsed.wcs, saturation_level(parsed.header, parsed.image)
    return FrameInput(id=frame.pk, label=frame.site.code if frame.site else "no site", band=frame.filter_name,
                      data=data, wcs=wcs, exptime_s=frame.exptime_s, zero_point=zero_point,
                      gain=frame.gain_e_per_adu, veto=veto, saturation_adu=saturation)  # fmt: skip
