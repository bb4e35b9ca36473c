"""Cross-site photometric calibration: every frame's zero point fitted on the stars it shares
with the other frames of the same field, so that all sites measure on one scale.

A site's zero point (from its header or its filter's calibration) drifts with the night's
transparency and the telescope's state; the same star measured from two sites then comes out
at two magnitudes. Here each frame's stars are found and measured (photutils), matched across
frames by position, and one system is solved: every measurement's instrumental magnitude
plus its frame's zero point is its star's magnitude. The scale is anchored where the caller
trusts it (the frames of a reference site, or all frames' own zero points on average).

Choices, and why:
- A 5″ aperture whatever the seeing: at least 1.5 FWHM for seeing up to 3.3″, so a Gaussian
  star keeps 99.8% of its light in every frame and no aperture correction is needed between
  sites. Sky from a 8–12″ annulus.
- Only stars with a signal-to-noise of at least ``MIN_SNR`` and whose brightest pixel is below
  the frame's saturation (``saturation_level``) count: a clipped star reads too faint, by
  more the better the seeing, so it would pull sites apart.
- Frames can share one zero point (``groups``: a site's frames of one night, which share its
  sky's transparency and the telescope's state), so a short exposure with few stars is tied
  through the night's others.
- The system is solved by alternating weighted means (stars from frames, frames from stars),
  with the measurement furthest off its star (over ``CLIP_SIGMA``) rejected between rounds: a
  variable star must not move a frame's zero point.
- Only stars with no other star inside their sky annulus count: a neighbour's light in the
  aperture or the annulus depends on the seeing, so it differs from site to site.
- Where the stars' colours are known (from a second band), each site's colour term is fitted
  too: sites' filters and detectors pass slightly different light, so a red star and a blue
  one of the same magnitude differ by a little more at one site than at another. The terms are
  relative (they average zero over the sites: the scale is the sites' mean system), and a
  site's is fitted only when its stars' colours span ``MIN_COLOUR_SPREAD``.
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.stats import sigma_clipped_stats

from .fusion import pixel_scale_arcsec

APERTURE_ARCSEC = 5.0
ANNULUS_ARCSEC = (8.0, 12.0)
MIN_SNR = 20.0
SATURATION_KEYWORDS = ("SATURATE", "SATLEVEL", "SATURATN", "MAXLIN")
DEFAULT_SATURATION_ADU = 60000.0  # 16-bit converters' ceiling, less the bias, where nothing says
PLATEAU_PIXELS = 9  # within 3% of the frame's maximum: a flat top, not one star's peak
PLATEAU_SHOULDER = 0.8  # of a flat top: where a plate's (or a chip's) response has already bent
MATCH_ARCSEC = 1.0
CLIP_SIGMA = 4.0
ROUNDS = 50  # of clipping, a measurement each
SOLVE_ROUNDS = 500
MIN_STARS = 3
MIN_COLOUR_SPREAD = 0.3  # mag, standard deviation of the stars' colours a colour term needs


class CalibrationRefused(ValueError):
    """Calibration that cannot be done: the message says why."""


@dataclass(frozen=True)
class FrameStars:
    """One frame's measured stars: positions (degrees), instrumental magnitudes (−2.5 log10 of
    counts a second) and their errors."""

    id: int
    label: str
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    instrumental: np.ndarray
    error: np.ndarray
    colour: np.ndarray | None = None  # each star's colour where known (NaN where not)


@dataclass
class Calibration:
    """Each frame's fitted zero point, its error and the stars it rests on; a frame with fewer
    than ``MIN_STARS`` stars in common with the others has none. ``star_count``: the stars
    seen in more than one frame. ``colour_terms``: {system: (term, error)} of the systems
    whose stars' colours allowed one: a system reads a star term × (colour − reference) mag
    fainter than the mean system, and a zero point holds for a star of ``colour_reference``."""

    zero_points: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    stars_used: dict = field(default_factory=dict)
    star_count: int = 0
    colour_terms: dict = field(default_factory=dict)
    colour_reference: float | None = None
    magnitudes: dict = field(default_factory=dict)  # {(ra, dec): calibrated magnitude} of every shared star


def saturation_level(header, data):
    """The level above which the frame's pixels cannot be trusted: the header's (``SATURATE``
    and its kin), else 80% of a flat top the image's brightest pixels share (a digitiser's
    ceiling, a photographic plate's shoulder: a star's peak alone never spreads over 9 pixels
    within 3%), else ``DEFAULT_SATURATION_ADU``."""
    for keyword in SATURATION_KEYWORDS:
        try:
            value = float(header.get(keyword) or 0) if header is not None else 0
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    finite = np.asarray(data)[np.isfinite(data)]
    if finite.size:
        top = float(finite.max())
        if top > 0 and np.count_nonzero(finite >= 0.97 * top) >= PLATEAU_PIXELS:
            return PLATEAU_SHOULDER * top
    return DEFAULT_SATURATION_ADU


def measure_stars(frame_id, label, data, wcs, exptime_s, *, gain=None, saturation_adu=None):
    """The frame's stars (photutils DAOStarFinder on the sky-subtracted image), measured in a 5″
    aperture with a local sky; a FrameStars. Stars whose brightest pixel reaches
    ``saturation_adu`` (the image's own flat top, when not given) are left out."""
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
    from photutils.detection import DAOStarFinder
    from photutils.utils.exceptions import NoDetectionsWarning

    data = np.asarray(data, dtype=np.float64)
    if saturation_adu is None:
        saturation_adu = saturation_level(None, data)
    scale = pixel_scale_arcsec(wcs)
    _, median, sigma = sigma_clipped_stats(data, sigma=3.0, maxiters=5)
    with warnings.catch_warnings():  # a frame with no star is answered below, not warned about
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = DAOStarFinder(fwhm=max(2.0, 1.5 / scale), threshold=5 * sigma)(data - median)
    if found is None or len(found) == 0:
        return FrameStars(frame_id, label, *(np.empty(0),) * 4)
    positions = np.column_stack([found["x_centroid"], found["y_centroid"]])
    radius = APERTURE_ARCSEC / scale
    rows, columns = data.shape
    margin = ANNULUS_ARCSEC[1] / scale
    inside = np.all((positions > margin) & (positions < np.array([columns, rows]) - 1 - margin), axis=1)
    # A star with a neighbour inside its sky annulus is measured with some of the neighbour's
    # light, more or less of it with the site's seeing: only isolated stars tie sites together.
    alone = np.array([np.sum(np.hypot(*(positions - position).T) < ANNULUS_ARCSEC[0] / scale) == 1
                      for position in positions])  # fmt: skip
    positions = positions[inside & alone]
    if not len(positions):
        return FrameStars(frame_id, label, *(np.empty(0),) * 4)
    aperture = CircularAperture(positions, r=radius)
    annulus = CircularAnnulus(positions, r_in=ANNULUS_ARCSEC[0] / scale, r_out=ANNULUS_ARCSEC[1] / scale)
    sky = ApertureStats(data, annulus).median
    stats = ApertureStats(data, aperture)
    counts = stats.sum - sky * aperture.area
    variance = aperture.area * sigma**2 + (np.clip(counts, 0, None) / gain if gain else 0.0)
    snr = counts / np.sqrt(variance)
    good = (snr >= MIN_SNR) & (stats.max < saturation_adu)
    sky_position = wcs.celestial.pixel_to_world(positions[good, 0], positions[good, 1])
    return FrameStars(frame_id, label, sky_position.ra.deg, sky_position.dec.deg,
                      -2.5 * np.log10(counts[good] / exptime_s), 2.5 / math.log(10) / snr[good])  # fmt: skip


def calibrate(frames, anchors, groups=None, systems=None):
    """Each frame's zero point on one scale (a Calibration). ``anchors`` is {frame id: zero point
    trusted}: the scale is set so that the anchored frames' fitted zero points equal theirs, by
    the median. ``groups`` is {frame id: key}: frames of one key share one zero point (each
    frame alone when not given). ``systems`` is {frame id: key}: frames of one key (a site)
    share a colour term, fitted where the frames' stars have colours. Refused when the frames
    share too few stars to be tied together."""
    if not anchors:
        raise CalibrationRefused("No frame to anchor the scale on: give at least one frame's trusted zero point.")
    star_of, frame_of, magnitude, error, colour, ra, dec = _matched(frames)
    if not len(star_of):
        raise CalibrationRefused("The frames share no star: nothing ties their scales together.")
    frame_ids = [frame.id for frame in frames]
    keys = [groups[frame_id] if groups else frame_id for frame_id in frame_ids]
    group_keys = list(dict.fromkeys(keys))
    group_of_frame = np.array([group_keys.index(key) for key in keys])
    # From here on, a "frame" is a group of frames sharing a zero point, and only the stars seen
    # in two groups or more tie anything.
    frame_of = group_of_frame[frame_of]
    pairs = np.unique(np.column_stack([star_of, frame_of]), axis=0)
    across = np.bincount(pairs[:, 0], minlength=star_of.max() + 1)[star_of] >= 2
    if not across.any():
        raise CalibrationRefused("The frames share no star with another night or site: nothing ties their scales.")
    _, star_of = np.unique(star_of[across], return_inverse=True)
    frame_of, magnitude, error = frame_of[across], magnitude[across], error[across]
    system_keys = [systems[frame_id] if systems else None for frame_id in frame_ids]
    system_of_group = {group_of_frame[index]: key for index, key in enumerate(system_keys)}
    system_names = list(dict.fromkeys(system_keys))
    system_of = np.array([system_names.index(system_of_group[group]) for group in frame_of])
    known = np.isfinite(colour[across]) if systems else np.zeros(len(star_of), dtype=bool)
    reference = float(np.median(colour[across][known])) if known.any() else None
    x = np.where(known, colour[across] - (reference or 0.0), 0.0)  # colour relative to the reference
    weight = 1 / error**2
    kept = np.ones(len(star_of), dtype=bool)
    offsets, terms = np.zeros(len(group_keys)), np.zeros(len(system_names))
    for _ in range(ROUNDS):
        for _ in range(SOLVE_ROUNDS):  # alternate until the frames' offsets (and colour terms) settle
            corrected = magnitude - terms[system_of] * x  # a site reads a star term × colour too faint
            stars = _weighted_means(star_of, corrected + offsets[frame_of], weight * kept, star_of.max() + 1)
            previous, offsets = offsets, _weighted_means(frame_of, stars[star_of] - corrected, weight * kept,
                                                         len(group_keys))  # fmt: skip
            residual = magnitude + offsets[frame_of] - stars[star_of]
            previous_terms = terms
            terms = _colour_terms(residual, x, weight * kept * known, system_of, len(system_names))
            if max(np.max(np.abs(offsets - previous)), np.max(np.abs(terms - previous_terms))) < 1e-6:
                break
        # One measurement at a time, the worst: a variable star first pulls its frame's offset, so
        # that frame's other stars look off too until it is gone.
        spread = np.abs((stars[star_of] - magnitude + terms[system_of] * x - offsets[frame_of]) / error)
        spread[~kept] = 0
        worst = int(np.argmax(spread))
        if spread[worst] <= CLIP_SIGMA * max(1.4826 * _mad(spread[kept]), 1.0):
            break
        kept[worst] = False
    used = np.bincount(frame_of[kept], minlength=len(group_keys))
    tied = used >= MIN_STARS
    if tied.sum() < 2:
        raise CalibrationRefused(f"Fewer than two frames share {MIN_STARS} measured stars with the others.")
    anchored = [index for index, frame_id in enumerate(frame_ids)
                if frame_id in anchors and tied[group_of_frame[index]]]  # fmt: skip
    if not anchored:
        raise CalibrationRefused("None of the anchored frames shares enough stars with the others.")
    # The median: an anchored frame whose own zero point is off does not move the scale.
    shift = np.median([anchors[frame_ids[index]] - offsets[group_of_frame[index]] for index in anchored])
    residual = stars[star_of] - magnitude + terms[system_of] * x - offsets[frame_of]
    calibration = Calibration(star_count=int(len(np.unique(star_of[kept]))), colour_reference=reference)
    fitted = np.bincount(system_of[kept & known], weights=(weight * x**2)[kept & known], minlength=len(system_names))
    for index, name in enumerate(system_names):
        if fitted[index] > 0:
            calibration.colour_terms[name] = (float(terms[index]), float(1 / math.sqrt(fitted[index])))
    first = {}
    for index, star in enumerate(star_of):
        first.setdefault(star, index)
    for star, index in first.items():
        calibration.magnitudes[(float(ra[across][index]), float(dec[across][index]))] = float(stars[star] + shift)
    for index, frame_id in enumerate(frame_ids):
        group = group_of_frame[index]
        mine = kept & (frame_of == group)
        calibration.stars_used[frame_id] = int(mine.sum())
        if not tied[group]:
            continue  # too few stars in common to say: no zero point for it
        scatter = float(np.sqrt(np.sum(weight[mine] * residual[mine] ** 2) / max(mine.sum() - 1, 1)))
        calibration.zero_points[frame_id] = float(offsets[group] + shift)
        calibration.errors[frame_id] = float(max(scatter, 1.0) / math.sqrt(weight[mine].sum()))
    return calibration


def _colour_terms(residual, x, weight, system_of, count):
    """Each system's colour term: the weighted slope of the residuals on the colour, through zero;
    a system whose stars' colours span less than ``MIN_COLOUR_SPREAD`` gets none (0). Then
    shifted so that they average zero: a term common to every site is the stars' own colour,
    not the sites'."""
    sxx = np.bincount(system_of, weights=weight * x**2, minlength=count)
    sxy = np.bincount(system_of, weights=weight * x * residual, minlength=count)
    total = np.bincount(system_of, weights=weight, minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.sqrt(sxx / total)
        terms = np.where((total > 0) & (spread >= MIN_COLOUR_SPREAD), sxy / sxx, 0.0)
    fitted = (total > 0) & (spread >= MIN_COLOUR_SPREAD)
    if fitted.sum() < 2:
        return np.zeros(count)  # one site's term alone cannot be told from the stars' colours
    terms[fitted] -= np.average(terms[fitted], weights=sxx[fitted])
    return terms


def _matched(frames):
    """(star index, frame index, instrumental magnitude, error, colour, ra, dec) of every
    measurement of a star seen in two frames or more; stars are matched by position within
    ``MATCH_ARCSEC``."""
    catalogue_ra, catalogue_dec, star_of, frame_of, magnitude, error = [], [], [], [], [], []
    colour, ra, dec = [], [], []
    for index, frame in enumerate(frames):
        if not len(frame.ra_deg):
            continue
        ids = np.full(len(frame.ra_deg), -1)
        if catalogue_ra:
            known = SkyCoord(np.array(catalogue_ra) * u.deg, np.array(catalogue_dec) * u.deg)
            nearest, separation, _ = SkyCoord(frame.ra_deg * u.deg, frame.dec_deg * u.deg).match_to_catalog_sky(known)
            close = separation.arcsec < MATCH_ARCSEC
            ids[close] = nearest[close]
        for new in np.flatnonzero(ids < 0):
            ids[new] = len(catalogue_ra)
            catalogue_ra.append(frame.ra_deg[new])
            catalogue_dec.append(frame.dec_deg[new])
        star_of.append(ids)
        frame_of.append(np.full(len(ids), index))
        magnitude.append(frame.instrumental)
        error.append(frame.error)
        colour.append(frame.colour if frame.colour is not None else np.full(len(ids), np.nan))
        ra.append(frame.ra_deg)
        dec.append(frame.dec_deg)
    if not star_of:
        return (np.empty(0, dtype=int),) * 2 + (np.empty(0),) * 5
    star_of, frame_of = np.concatenate(star_of), np.concatenate(frame_of)
    seen = np.bincount(star_of)
    shared = seen[star_of] >= 2
    # Stars renumbered 0… over the shared ones only.
    _, star_of = np.unique(star_of[shared], return_inverse=True)
    return (star_of, frame_of[shared],
            *(np.concatenate(values)[shared] for values in (magnitude, error, colour, ra, dec)))  # fmt: skip


def _weighted_means(groups, values, weights, count):
    totals = np.bincount(groups, weights=weights, minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(groups, weights=weights * values, minlength=count) / totals
    return np.nan_to_num(means)


def _mad(values):
    return float(np.median(np.abs(values - np.median(values)))) or 1.0
