"""Cross-site calibration of a target's photometry: every frame of its field in one band tied to
one scale by the stars the frames share (``observations.calibration``), one zero point per
site and night, stored beside the raw photometry (which is never changed) so that the light
curve can be read on one scale (``observations.light_curves``).

A site's frames of one night share a zero point: the same sky's transparency, the same
telescope. A frame the frame-quality veto judges spoilt (clouds, say) is fitted alone, since
its transparency is not its night's.
"""

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from django.db import transaction

from portal.progress import queue_job, start_job

from .calibration import MATCH_ARCSEC, CalibrationRefused, calibrate, measure_stars, saturation_level
from .fused_images import frame_vetoes, target_frames
from .ingest import read_stored_frame
from .models import CalibratedPhotometry, FrameCalibration, Photometry, PhotometryCalibration

BAND_ORDER = ("u", "g", "B", "V", "r", "R", "i", "I", "z", "y")  # by wavelength: a colour is bluer minus redder
COLOUR_GAP_DAYS = 5.0  # the farthest a measurement of the other band may be for the target's colour


def night_of(obs_time, longitude_deg):
    """The local date of the evening a site's night began, from its longitude (mean solar
    time, noon to noon): a night that straddles midnight UTC stays one night."""
    return (obs_time + timedelta(hours=(longitude_deg or 0.0) / 15 - 12)).date()


def calibratable(frames_of_target, band):
    """(frames that can be calibrated, [{id, label, reason}] of the band's others), from the
    target's ``target_frames``: a frame needs astrometry (its stars must be placed on the sky)
    and a zero point of its own (the scale's anchor is the frames' own zero points, by the median)."""
    frames, left_out = [], []
    for frame, zero_point in frames_of_target:
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
    frames_of_target = target_frames(target)
    frames, left_out = calibratable(frames_of_target, band)
    if not frames:
        bands = sorted({frame.filter_name for frame, _ in frames_of_target if frame.filter_name})
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
    partner = colour_partner(frames_of_target, band)
    steps = len(frames) + (len(calibratable(frames_of_target, partner)[0]) if partner else 0) + 1
    with transaction.atomic():
        job = start_job(tenant=tenant, user=user, kind="calibration", total=steps, subject=target,
                        title=f"Calibrate {target} in {band} across sites")  # fmt: skip
        run = PhotometryCalibration.objects.create(tenant=tenant, target=target, band=band, job=job, created_by=user)
        queue_job(job, "observations.tasks.calibrate_target_photometry", tenant.pk, job.pk, run.pk)
    return run


def colour_partner(frames_of_target, band):
    """The band whose stars give ``band``'s colour terms: the target's nearest other band in
    wavelength with calibratable frames from two sites or nights; None when it has none."""
    bands = {frame.filter_name for frame, _ in frames_of_target if frame.filter_name != band}
    order = {name: index for index, name in enumerate(BAND_ORDER)}
    for other in sorted(bands, key=lambda name: abs(order.get(name, 99) - order.get(band, 99))):
        frames, _ = calibratable(frames_of_target, other)
        if other in order and len({(f.site_id, night_of(f.obs_time, _longitude(f))) for f, _ in frames}) >= 2:
            return other
    return None


def colour_name(band, other):
    """The colour index of two bands, bluer minus redder (g-r)."""
    return f"{band}-{other}" if BAND_ORDER.index(band) < BAND_ORDER.index(other) else f"{other}-{band}"


def calibrate_photometry(run, progress):
    """Measure the stars of every calibratable frame of the run's target and band, tie their
    zero points per site and night (with each site's colour term, where a second band gives
    the stars' colours), and store each frame's fit and the calibrated magnitude of every
    photometry measured on it; ``progress(steps done, message)``. Raises CalibrationRefused
    (nothing stored) when the frames cannot be tied."""
    frames_of_target = target_frames(run.target)
    frames, left_out = calibratable(frames_of_target, run.band)
    partner = colour_partner(frames_of_target, run.band)
    partner_frames = calibratable(frames_of_target, partner)[0] if partner else []
    vetoes = frame_vetoes(run.tenant, [frame for frame, _ in frames + partner_frames])
    stars, groups = _measured(frames + partner_frames, vetoes, progress)
    anchors = {frame.pk: zero_point for frame, zero_point in frames + partner_frames}
    mine = [stars[frame.pk] for frame, _ in frames]
    colour = partner_fit = sign = None
    if partner:
        try:
            partner_fit = calibrate([stars[frame.pk] for frame, _ in partner_frames], anchors, groups)
        except CalibrationRefused:
            partner = None  # its frames do not tie: the colour terms wait for them
    if partner:
        colour = colour_name(run.band, partner)
        sign = 1 if colour.startswith(f"{run.band}-") else -1
        plain = calibrate(mine, anchors, groups)
        mine = [replace(each, colour=sign * _colours(each, plain.magnitudes, partner_fit.magnitudes)) for each in mine]
    systems = {frame.pk: frame.site_id for frame, _ in frames}
    fitted = calibrate(mine, anchors, groups, systems if colour else None)
    with transaction.atomic():
        FrameCalibration.objects.filter(frame__in=[frame for frame, _ in frames]).delete()
        rows = FrameCalibration.objects.bulk_create(
            _frame_calibration(run, frame, zero_point, fitted, vetoes.get(frame.pk), colour)
            for frame, zero_point in frames
        )
        target_colours = _target_colours(run.target, rows, partner_frames, partner_fit, sign) if colour else {}
        CalibratedPhotometry.objects.bulk_create(_calibrated_points(rows, target_colours))
        run.star_count, run.left_out = fitted.star_count, left_out
        run.save(update_fields=["star_count", "left_out"])
    tied = sum(row.zero_point is not None for row in rows)
    progress(len(frames) + len(partner_frames) + 1,
             f"tied {tied} of {len(frames)} frames on {fitted.star_count} shared stars")  # fmt: skip
    return rows


def _measured(frames, vetoes, progress):
    """({frame id: its FrameStars}, {frame id: the site and night it shares a zero point with})."""
    stars, groups = {}, {}
    for number, (frame, _) in enumerate(frames, start=1):
        parsed = read_stored_frame(frame)
        saturation = saturation_level(parsed.header, parsed.image)
        stars[frame.pk] = measure_stars(frame.pk, _label(frame), parsed.image, parsed.wcs, frame.exptime_s,
                                        gain=frame.gain_e_per_adu, saturation_adu=saturation)  # fmt: skip
        night = night_of(frame.obs_time, _longitude(frame))
        groups[frame.pk] = ("alone", frame.pk) if frame.pk in vetoes else (frame.site_id, night)
        progress(number, f"measured {len(stars[frame.pk].ra_deg)} stars on frame {number} of {len(frames)}")
    return stars, groups


def _colours(stars, magnitudes, partner_magnitudes):
    """Each of ``stars``' band minus partner band magnitude, from the two calibrations' star
    catalogues matched by position (NaN where a star is in one only)."""
    colours = np.full(len(stars.ra_deg), np.nan)
    if not magnitudes or not partner_magnitudes or not len(stars.ra_deg):
        return colours
    here, there = (SkyCoord(*np.array(list(catalogue)).T, unit=u.deg) for catalogue in (magnitudes, partner_magnitudes))
    mine_mag, their_mag = np.array(list(magnitudes.values())), np.array(list(partner_magnitudes.values()))
    measured = SkyCoord(stars.ra_deg, stars.dec_deg, unit=u.deg)
    first, first_separation, _ = measured.match_to_catalog_sky(here)
    second, second_separation, _ = measured.match_to_catalog_sky(there)
    both = (first_separation.arcsec < MATCH_ARCSEC) & (second_separation.arcsec < MATCH_ARCSEC)
    colours[both] = mine_mag[first[both]] - their_mag[second[both]]
    return colours


def _target_colours(target, rows, partner_frames, partner_fit, sign):
    """{photometry id: the target's colour then}, for each of its measurements this run
    calibrates. The colour is measured where both bands were taken within a day (each on its
    calibrated scale) and interpolated in time between those nights (a transient's colour
    changes over days, more slowly than its brightness), within ``COLOUR_GAP_DAYS`` of one;
    ``sign`` 1 when this band is the bluer."""
    measured = Photometry.objects.filter(target=target, mag__isnull=False, zero_point__isnull=False)
    partner = [(point.mjd, point.mag - point.zero_point + partner_fit.zero_points[point.link.frame_id])
               for point in measured.filter(link__frame__in=[frame for frame, _ in partner_frames])
               .select_related("link") if point.link.frame_id in partner_fit.zero_points]  # fmt: skip
    by_frame = {row.frame_id: row for row in rows if row.zero_point is not None}
    mine = [(point, point.mjd, point.mag - point.zero_point + by_frame[point.link.frame_id].zero_point)
            for point in measured.filter(link__frame_id__in=by_frame).select_related("link")]  # fmt: skip
    samples = []
    for when, other in partner:
        near = [magnitude for _, mjd, magnitude in mine if abs(mjd - when) < 1.0]
        if near:
            samples.append((when, sign * (float(np.mean(near)) - other)))
    if not samples:
        return {}
    times, colours = np.array(sorted(samples)).T
    return {point.pk: float(np.interp(mjd, times, colours)) for point, mjd, _ in mine
            if np.min(np.abs(times - mjd)) <= COLOUR_GAP_DAYS}  # fmt: skip


def _frame_calibration(run, frame, zero_point, fitted, veto, colour):
    stars_used = fitted.stars_used[frame.pk]
    tied = frame.pk in fitted.zero_points
    if not tied:
        note = f"not tied: {stars_used} stars in common with other nights and sites"
    elif veto:
        note = f"fitted alone on {stars_used} stars ({veto})"
    else:
        note = f"fitted with its night's frames on {stars_used} stars"
    term, term_error = fitted.colour_terms.get(frame.site_id, (None, None))
    return FrameCalibration(
        tenant=run.tenant, run=run, frame=frame, site=frame.site, night=night_of(frame.obs_time, _longitude(frame)),
        zero_point=fitted.zero_points.get(frame.pk), zero_point_error=fitted.errors.get(frame.pk),
        zero_point_own=zero_point, stars_used=stars_used, note=note[:200], colour=colour if term is not None else "",
        colour_term=term, colour_term_error=term_error,
        colour_reference=fitted.colour_reference if term is not None else None,
    )  # fmt: skip


def _calibrated_points(calibrations, target_colours):
    """Each tied frame's photometry on the fitted zero point: its instrumental magnitude (the
    raw one less the zero point it used) plus the fit, less its site's colour term for the
    target's colour where that is known; the errors added in quadrature."""
    by_frame = {row.frame_id: row for row in calibrations if row.zero_point is not None}
    points = Photometry.objects.filter(link__frame_id__in=by_frame, mag__isnull=False, zero_point__isnull=False)
    for point in points.select_related("link"):
        row = by_frame[point.link.frame_id]
        colour = target_colours.get(point.pk) if row.colour_term is not None else None
        term = row.colour_term * (colour - row.colour_reference) if colour is not None else 0.0
        yield CalibratedPhotometry(tenant=row.tenant, photometry=point, calibration=row, colour=colour,
                                   mag=point.mag - point.zero_point + row.zero_point - term,
                                   mag_err=math.hypot(point.mag_err or 0.0, row.zero_point_error or 0.0))  # fmt: skip


def _label(frame):
    return frame.site.code if frame.site else "no site"


def _longitude(frame):
    return frame.site.longitude_deg if frame.site else 0.0
