"""Cross-site calibration of a target's photometry: every frame of its field in one band tied to
one scale by the stars the frames share (``observations.calibration``), one zero point per
site and night, stored beside the raw photometry (which is never changed) so that the light
curve can be read on one scale (``observations.light_curves``).

A site's frames of one night share a zero point: the same sky's transparency, the same
telescope. A frame the frame-quality veto judges spoilt (clouds, say) is fitted alone, since
its transparency is not its night's.
"""

import math
from datetime import timedelta

from django.db import transaction

from portal.progress import queue_job, start_job

from .calibration import CalibrationRefused, calibrate, measure_stars, saturation_level
from .fused_images import frame_vetoes, target_frames
from .ingest import parse_frame
from .models import CalibratedPhotometry, FrameCalibration, Photometry, PhotometryCalibration


def night_of(obs_time, longitude_deg):
    """The local date of the evening a site's night began, from its longitude (mean solar
    time, noon to noon): a night that straddles midnight UTC stays one night."""
    return (obs_time + timedelta(hours=(longitude_deg or 0.0) / 15 - 12)).date()


def calibratable(target, band):
    """(frames that can be calibrated, [{id, label, reason}] of the band's others): a frame needs
    astrometry (its stars must be placed on the sky) and a zero point of its own (the scale's
    anchor is the frames' own zero points, by the median)."""
    frames, left_out = [], []
    for frame, zero_point in target_frames(target):
        if frame.filter_name != band:
            continue
        label = _label(frame)
        if not frame.has_astrometry:
            left_out.append({"id": frame.pk, "label": label, "reason": "no astrometry: its stars cannot be placed"})
        elif zero_point is None:
            left_out.append({"id": frame.pk, "label": label, "reason": "no zero point of its own to anchor on"})
        else:
            frames.append((frame, zero_point))
    return frames, left_out


def request_calibration(tenant, user, target, band):
    """A PhotometryCalibration waiting for its job, or CalibrationRefused saying why not before
    anything is stored or queued: no frame of the band, or frames from one site and night only
    (nothing to tie)."""
    frames, left_out = calibratable(target, band)
    if not frames:
        bands = sorted({frame.filter_name for frame, _ in target_frames(target) if frame.filter_name})
        reasons = "; ".join(f"#{each['id']} ({each['label']}): {each['reason']}" for each in left_out)
        raise CalibrationRefused(
            f"{target} has no frame in {band} that can be calibrated"
            + (f": {reasons}." if reasons else f"; it has frames in {', '.join(bands) or 'no band'}.")
        )
    nights = {(frame.site_id, night_of(frame.obs_time, _longitude(frame))) for frame, _ in frames}
    if len(nights) < 2:
        raise CalibrationRefused(
            f"{target}'s {band} frames are from one site and night: there is nothing to tie them to."
        )
    with transaction.atomic():
        job = start_job(tenant=tenant, user=user, kind="calibration", total=len(frames) + 1, subject=target,
                        title=f"Calibrate {target} in {band} across sites")  # fmt: skip
        run = PhotometryCalibration.objects.create(tenant=tenant, target=target, band=band, job=job, created_by=user)
        queue_job(job, "observations.tasks.calibrate_target_photometry", tenant.pk, job.pk, run.pk)
    return run


def calibrate_photometry(run, progress):
    """Measure the stars of every calibratable frame of the run's target and band, tie their
    zero points per site and night, and store each frame's fit and the calibrated magnitude of
    every photometry measured on it (any target's); ``progress(steps done, message)``.
    Raises CalibrationRefused (nothing stored) when the frames cannot be tied."""
    frames, left_out = calibratable(run.target, run.band)
    vetoes = frame_vetoes(run.tenant, [frame for frame, _ in frames])
    stars, groups = [], {}
    for number, (frame, _) in enumerate(frames, start=1):
        with frame.file.open("rb") as stored:
            parsed = parse_frame(stored.read())
        saturation = saturation_level(parsed.header, parsed.image)
        stars.append(measure_stars(frame.pk, _label(frame), parsed.image, parsed.wcs, frame.exptime_s,
                                   gain=frame.gain_e_per_adu, saturation_adu=saturation))  # fmt: skip
        night = night_of(frame.obs_time, _longitude(frame))
        groups[frame.pk] = ("alone", frame.pk) if frame.pk in vetoes else (frame.site_id, night)
        progress(number, f"measured {len(stars[-1].ra_deg)} stars on frame {number} of {len(frames)}")
    fitted = calibrate(stars, {frame.pk: zero_point for frame, zero_point in frames}, groups)
    with transaction.atomic():
        FrameCalibration.objects.filter(frame__in=[frame for frame, _ in frames]).delete()
        rows = FrameCalibration.objects.bulk_create(
            _frame_calibration(run, frame, zero_point, fitted, vetoes.get(frame.pk)) for frame, zero_point in frames
        )
        CalibratedPhotometry.objects.bulk_create(_calibrated_points(rows))
        run.star_count, run.left_out = fitted.star_count, left_out
        run.save(update_fields=["star_count", "left_out"])
    tied = sum(row.zero_point is not None for row in rows)
    progress(len(frames) + 1, f"tied {tied} of {len(frames)} frames on {fitted.star_count} shared stars")
    return rows


def _frame_calibration(run, frame, zero_point, fitted, veto):
    stars_used = fitted.stars_used[frame.pk]
    tied = frame.pk in fitted.zero_points
    if not tied:
        note = f"not tied: {stars_used} stars in common with other nights and sites"
    elif veto:
        note = f"fitted alone on {stars_used} stars ({veto})"
    else:
        note = f"fitted with its night's frames on {stars_used} stars"
    return FrameCalibration(
        tenant=run.tenant, run=run, frame=frame, site=frame.site, night=night_of(frame.obs_time, _longitude(frame)),
        zero_point=fitted.zero_points.get(frame.pk), zero_point_error=fitted.errors.get(frame.pk),
        zero_point_own=zero_point, stars_used=stars_used, note=note[:200],
    )  # fmt: skip


def _calibrated_points(calibrations):
    """Each tied frame's photometry on the fitted zero point: its instrumental magnitude (the
    raw one less the zero point it used) plus the fit, the errors added in quadrature."""
    by_frame = {row.frame_id: row for row in calibrations if row.zero_point is not None}
    points = Photometry.objects.filter(link__frame_id__in=by_frame, mag__isnull=False, zero_point__isnull=False)
    for point in points.select_related("link"):
        row = by_frame[point.link.frame_id]
        yield CalibratedPhotometry(tenant=row.tenant, photometry=point, calibration=row,
                                   mag=point.mag - point.zero_point + row.zero_point,
                                   mag_err=math.hypot(point.mag_err or 0.0, row.zero_point_error or 0.0))  # fmt: skip


def _label(frame):
    return frame.site.code if frame.site else "no site"


def _longitude(frame):
    return frame.site.longitude_deg if frame.site else 0.0
