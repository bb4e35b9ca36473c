"""Masks of the pixels a defect spoilt: a satellite's trail, cosmic-ray hits, bad columns, or
what a curator drew. A mask is a boolean array of the frame's shape, True where a pixel is to
be repaired; everything else must come through a repair untouched.

The detectors are found by the defect the frame-quality model flagged (``DETECTORS``), so a
frame is only searched for what it is thought to have: a cosmic-ray search of a clean frame
finds a few sharp noise peaks, and a trail search finds bleed columns.

numpy, scipy and astroscrappy (L.A.Cosmic) only: pages check drawn masks before any work starts.
"""

import math

import numpy as np
from astropy.stats import sigma_clipped_stats
from scipy import ndimage

TRAIL_MIN_ELONGATION = 8.0  # a trail's length over its width; a star or galaxy is nearer 1
TRAIL_MIN_LINE_ELONGATION = 24.0  # of the line of pixels through a region: blended stars make 10–13
TRAIL_MIN_CHORD_FRACTION = 0.5  # of the line's chord across the frame: a bleed column is far shorter
TRAIL_SMOOTHING_PX = 1.5
TRAIL_EDGE_REACH_PX = 16
TRAIL_PROFILE_BIN_PX = 0.2  # of distance from a trail's line, in its light's model
TRAIL_SEGMENT_PX = 32  # the length of trail over which its brightness is taken as constant
COLUMN_SIGMA = 6.0


class MaskRefused(ValueError):
    """A mask that a repair cannot mean anything with; the message says why."""


def sky_and_noise(image):
    """(sky, noise) of a frame in its own units: the sigma-clipped median and standard deviation of
    a sample of its pixels (stars and hits clipped away)."""
    finite = image[np.isfinite(image)]
    step = max(1, finite.size // 200_000)
    _, sky, noise = sigma_clipped_stats(finite[::step], sigma=3.0, maxiters=5)
    return float(sky), float(noise) or 1.0


def cosmic_ray_mask(image, *, gain=None, read_noise=None, grow=1):
    """Cosmic-ray hits found by L.A.Cosmic (van Dokkum 2001, ``astroscrappy``), grown by ``grow``
    pixels to take the charge that spills round a hit. Stars are told apart by the fine-structure
    test made with the frame's own seeing (``star_fwhm_px``): on an undersampled frame (a
    Schmidt plate's 1.7″ pixels) the default median test takes star cores for hits. Without a
    header gain the noise model assumes 1 e⁻/ADU, and the read noise is what the sky's scatter
    has beyond its photon noise."""
    import astroscrappy

    gain = gain or 1.0
    sky, noise = sky_and_noise(image)
    if read_noise is None:
        read_noise = math.sqrt(max(noise**2 - max(sky, 0.0) / gain, 0.0)) * gain
    data = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=sky)
    fwhm = star_fwhm_px(data, sky, noise)
    # Mirrored at the edges: a star the edge cuts in half is as sharp as a hit to the Laplacian.
    pad = 2 * math.ceil(fwhm) + 2
    hits, _ = astroscrappy.detect_cosmics(np.pad(data, pad, mode="reflect"), gain=gain, readnoise=max(read_noise, 1.0),
                                          sigclip=5.0, sigfrac=0.3, objlim=5.0, satlevel=np.inf, fsmode="convolve",
                                          psfmodel="gauss", psffwhm=fwhm, psfsize=2 * math.ceil(fwhm) + 1)  # fmt: skip
    hits = hits[pad:-pad, pad:-pad]
    return ndimage.binary_dilation(hits, iterations=grow) if grow and hits.any() else hits


def star_fwhm_px(image, sky, noise, box=4):
    """The seeing in pixels: the median second-moment FWHM of the bright unsaturated peaks whose four
    neighbours all hold some of their light (2.5 px, L.A.Cosmic's default, when there are none).
    A hit's neighbours above or beside it hold almost none, so hits do not drag the seeing down."""
    data = image - sky
    peaks = (data == ndimage.maximum_filter(data, 2 * box + 1)) & (data > 20 * noise) & (data < 0.7 * data.max())
    peaks[:box], peaks[-box:], peaks[:, :box], peaks[:, -box:] = False, False, False, False
    offsets_y, offsets_x = np.mgrid[-box : box + 1, -box : box + 1]
    widths = []
    for y, x in zip(*np.nonzero(peaks)):
        if min(data[y - 1, x], data[y + 1, x], data[y, x - 1], data[y, x + 1]) < 0.15 * data[y, x]:
            continue
        light = np.clip(data[y - box : y + box + 1, x - box : x + box + 1], 0, None)
        total = light.sum()
        mean_x, mean_y = (light * offsets_x).sum() / total, (light * offsets_y).sum() / total
        variance = (light * ((offsets_x - mean_x) ** 2 + (offsets_y - mean_y) ** 2)).sum() / total / 2
        widths.append(2.3548 * math.sqrt(variance))
    return float(np.clip(np.median(widths), 1.0, 10.0)) if widths else 2.5


def trail_mask(image, *, margin_px=1):
    """Satellite and aircraft trails: connected regions of the smoothed frame standing above its
    noise that are long and thin and cross most of the frame. Each is fitted with a straight line;
    the mask is the band along it as wide as the trail's light stays above the noise, plus
    ``margin_px``, so a star the trail crosses is masked only under the trail: every pixel masked
    is one whose star light a repair must guess, so the band is no wider than the trail shows."""
    mask = np.zeros(np.shape(image), dtype=bool)
    for across, position, along, half_width in _trails(image):
        mask |= _band(across, position, along, half_width, margin_px)
    return mask


def trail_light(image, *, margin_px=1):
    """(light, scatter): each trail's own light as modelled, in the image's counts above the sky
    (0 off the trails' bands, as ``trail_mask`` draws them), and the scatter of the frame about
    that model in the bands (NaN elsewhere). A trail adds its light to the stars it crosses
    without hiding them unless it saturates: less its light, the band's pixels still hold
    theirs, only noisier, which a repair can keep rather than guess.

    The model is a profile across the trail scaled along it (by the median ratio to the profile
    in ``TRAIL_SEGMENT_PX`` lengths: a tumbling satellite flares and fades). The profile is the
    median of the pixels by their distance from the trail's middle, in ``TRAIL_PROFILE_BIN_PX``
    bins, read between bins at each pixel's own distance: a pixel's light where it lies, so a
    trail as sharp as the seeing needs no model of how pixels sample it. Medians, so the stars
    the trail crosses do not lift it."""
    image = np.asarray(image, dtype=np.float32)
    sky, _ = sky_and_noise(image)
    light = np.zeros(image.shape, dtype=np.float32)
    scatter = np.full(image.shape, np.nan, dtype=np.float32)
    for across, position, along, half_width in _trails(image):
        band = _band(across, position, along, half_width, margin_px)
        above, position = image[band] - sky - light[band], position[band]  # less the light of trails it crosses
        segments = ((position - position.min()) // TRAIL_SEGMENT_PX).astype(int)
        across = _recentred(above, across[band], position, segments)
        bins = _bins(across)
        kept, scale = np.ones(above.shape, dtype=bool), 1.0
        for round_ in range(3):  # one scale, then the scale of each segment, each from the pixels no star lifts
            lit = kept & (scale > 0)  # a segment past the trail's end has none of its light to scale
            profile = _profile(across, bins, above / np.where(lit, scale, 1), lit)
            chosen = kept & (profile >= 0.5 * profile.max())
            ratios = np.where(chosen, above / np.where(chosen, profile, 1), np.nan)
            scale = float(np.nanmedian(ratios)) if round_ == 0 else _along(ratios, segments)
            residual = above - scale * profile
            spread = 1.4826 * _medians(np.abs(residual - _medians(residual, bins)[bins]), bins)[bins]
            kept = residual <= 3 * spread
        light[band] += scale * profile
        scatter[band] = np.fmax(scatter[band], spread)
    return light, scatter


def _recentred(above, across, position, segments):
    """``across`` measured from the trail's middle as its light places it: the line the mask is
    drawn on may be a tenth of a degree off, a pixel at the far end, which a profile as sharp as
    a trail's cannot absorb. The middle of each segment is the centroid of its median profile
    (stars do not pull it), and a straight line is fitted through those."""
    middles, places, weights = [], [], []
    for segment in range(segments.max() + 1):
        chosen = segments == segment
        bins = _bins(across[chosen])
        profile = np.clip(_medians(above[chosen], bins), 0, None)
        offsets = _medians(across[chosen], bins)
        used = np.isfinite(profile)
        if profile[used].sum() > 0:
            middles.append(float((offsets[used] * profile[used]).sum() / profile[used].sum()))
            places.append(float(position[chosen].mean()))
            weights.append(float(profile[used].sum()))
    if len(middles) < 3:
        return across
    middles, places, weights = map(np.asarray, (middles, places, weights))
    for _ in range(2):  # once more without the segments far off the first line (a trail's ragged end)
        slope, offset = np.polyfit(places, middles, 1, w=np.sqrt(weights))
        off = np.abs(middles - (slope * places + offset))
        weights = np.where(off <= max(3 * np.median(off), 0.05), weights, 0)
    return across - (slope * position + offset)


def _along(ratios, segments):
    """Per pixel: the median of ``ratios`` over its segment, or where a segment has too few
    (the stars the trail crosses cover it, or the frame's edge cuts it short), read between
    the segments on either side."""
    counts = np.bincount(segments, weights=np.isfinite(ratios), minlength=segments.max() + 1)
    medians = _medians(ratios, segments)
    used = counts >= TRAIL_SEGMENT_PX / 2
    if not used.any():
        return np.full(ratios.shape, np.nanmedian(ratios))
    return np.interp(segments, np.nonzero(used)[0], medians[used])


def _profile(across, bins, values, kept):
    """The median of the ``kept`` ``values`` in ``bins`` of ``across``, each at its pixels' median
    distance, read at every pixel's own distance."""
    middles = _medians(np.where(kept, values, np.nan), bins)
    places = _medians(np.where(kept, across, np.nan), bins)
    used = np.isfinite(middles)
    return np.interp(across, places[used], middles[used])


def _bins(across):
    return np.floor((across - across.min()) / TRAIL_PROFILE_BIN_PX).astype(int)


def _medians(values, labels):
    """The median of ``values`` (NaN ignored) for each label 0…max, NaN where a label has none."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    ordered = values[order]
    return np.array([np.nanmedian(ordered[a:b]) if np.isfinite(ordered[a:b]).any() else np.nan
                     for a, b in zip(starts[:-1], starts[1:])])  # fmt: skip


def _trails(image):
    """(across, position, along, half_width) of each trail in ``image``: every pixel's distance
    from its line and position along it, the line's (first, last) position in the frame, and
    the whole distance where its light falls below the noise."""
    sky, noise = sky_and_noise(image)
    scaled = np.nan_to_num((np.asarray(image, dtype=np.float32) - sky) / noise)
    smooth = ndimage.gaussian_filter(scaled, TRAIL_SMOOTHING_PX)
    smooth_noise = 1.4826 * float(np.median(np.abs(smooth - np.median(smooth)))) or 1.0
    regions, count = ndimage.label(smooth > 3 * smooth_noise, structure=np.ones((3, 3)))
    height, width = scaled.shape
    yy, xx = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]
    trails = []
    for number, box in enumerate(ndimage.find_objects(regions), start=1):
        y, x = np.nonzero(regions[box] == number)
        if len(y) < 20:
            continue
        y, x = y + box[0].start, x + box[1].start
        unseen = scaled  # trails that cross share a region: each found is set aside, and the rest searched again
        while len(y) >= 20:
            line = _line(x, y, width, height)
            if line is None:
                break
            centre, direction, along = _straightened(unseen, xx, yy, *line)
            across, position = _line_coordinates(xx, yy, centre, direction)
            half_width = _half_width(unseen, across, position, along)
            if not half_width:  # a line through what was left beside a trail found: no light runs along it
                break
            trails.append((across, position, along, half_width))
            aside = half_width + 2 * TRAIL_SMOOTHING_PX + 2  # as far as smoothing spreads its light
            unseen = np.where(_band(across, position, along, half_width, aside), 0, unseen)
            beside = np.abs(_line_coordinates(x, y, centre, direction)[0]) > aside
            y, x = y[beside], x[beside]
    return trails


def _band(across, position, along, half_width, margin_px):
    return (np.abs(across) <= half_width - 0.5 + margin_px) & (position >= along[0] - 2 * half_width) & (
        position <= along[1] + 2 * half_width
    )  # fmt: skip


def _line(x, y, width, height):
    """(centre, unit direction, (first, last) position along it) of a region that is a trail, else None.
    The line through the most of the region's pixels is found first, then fitted to the pixels
    within 3 px of it. In bad seeing the stars a trail touches join its region, which tilts
    the region's own axis off the trail and makes the region barely longer than wide; the
    trail's line of pixels stays straight and thin, and is taken when it is far longer than a
    chain of blended stars ever is (``TRAIL_MIN_LINE_ELONGATION``)."""
    _, _, length, thickness = _principal_axis(x, y)
    region_elongation = length / thickness
    centre, direction = _strongest_line(x, y)
    near = np.abs((x - centre[0]) * -direction[1] + (y - centre[1]) * direction[0]) <= 3
    if near.sum() < 20:
        return None
    centre, direction, length, thickness = _principal_axis(x[near], y[near])
    if region_elongation < TRAIL_MIN_ELONGATION and length / thickness < TRAIL_MIN_LINE_ELONGATION:
        return None
    along = (x - centre[0]) * direction[0] + (y - centre[1]) * direction[1]
    enters, leaves = _chord(centre, direction, width, height)
    if np.ptp(along) < TRAIL_MIN_CHORD_FRACTION * (leaves - enters):
        return None
    # Smoothing and the threshold lose a trail's last pixels at the frame's edge: one that nearly
    # reaches the edge runs to it.
    first = enters if along.min() - enters < TRAIL_EDGE_REACH_PX else along.min()
    last = leaves if leaves - along.max() < TRAIL_EDGE_REACH_PX else along.max()
    return centre, direction, (float(first), float(last))


def _strongest_line(x, y):
    """(a point on, unit direction of) the straight line through the most of the pixels (x, y), to
    half a degree: the peak of their Hough transform, its distances binned by the pixel."""
    best = (-1, 0.0, 0.0)
    for angle in np.deg2rad(np.arange(0.0, 180.0, 0.5)):
        distance = x * math.cos(angle) + y * math.sin(angle)
        counts = np.bincount(np.round(distance - distance.min()).astype(int))
        counts[1:] += counts[:-1]  # a line's pixels straddle two bins as often as not
        peak = int(np.argmax(counts))
        if counts[peak] > best[0]:
            best = (int(counts[peak]), angle, distance.min() + peak - 0.5)
    _, angle, distance = best
    normal = np.array([math.cos(angle), math.sin(angle)])
    return distance * normal, np.array([-normal[1], normal[0]])


def _straightened(scaled, xx, yy, centre, direction, along):
    """The line fitted again through the light-weighted middle of the trail in 16 px lengths of it:
    thresholded pixels place a faint trail's ends a pixel off, and a band one pixel off leaves
    the trail's edge unmasked."""
    normal = np.array([-direction[1], direction[0]])
    across, position = _line_coordinates(xx, yy, centre, direction)
    near = (np.abs(across) <= 4) & (position >= along[0]) & (position <= along[1])
    weights = np.clip(scaled[near], 0, None)
    bins = ((position[near] - along[0]) // 16).astype(int)
    light = np.bincount(bins, weights)
    middles = np.bincount(bins, weights * across[near]) / np.maximum(light, 1e-9)
    places = np.bincount(bins, weights * position[near]) / np.maximum(light, 1e-9)
    used = light > 0
    if used.sum() < 3:
        return centre, direction, along
    slope, offset = np.polyfit(places[used], middles[used], 1, w=np.sqrt(light[used]))
    turned = (direction + slope * normal) / math.hypot(1, slope)
    return centre + offset * normal, turned, along


def _line_coordinates(xx, yy, centre, direction):
    """(across, along) the line through ``centre`` along ``direction`` of the grid points ``xx``, ``yy``."""
    (x0, y0), (dx, dy) = np.asarray(centre).tolist(), np.asarray(direction).tolist()  # floats keep grids float32
    return (xx - x0) * -dy + (yy - y0) * dx, (xx - x0) * dx + (yy - y0) * dy


def _principal_axis(x, y):
    """(centre, unit direction, length, thickness) of pixels, from their second moments (as of a uniform bar)."""
    centre = np.array([x.mean(), y.mean()])
    values, vectors = np.linalg.eigh(np.cov(np.stack([x - centre[0], y - centre[1]])))
    return centre, vectors[:, 1], math.sqrt(12 * max(values[1], 0)), math.sqrt(12 * max(values[0], 1 / 12))


def _chord(centre, direction, width, height):
    """(where, where) the line through ``centre`` along ``direction`` enters and leaves the frame,
    as positions along it from ``centre``."""
    reaches = []
    for start, step, size in ((centre[0], direction[0], width), (centre[1], direction[1], height)):
        if abs(step) > 1e-9:
            reaches.append(sorted(((0 - start) / step, (size - 1 - start) / step)))
    return max(r[0] for r in reaches), max(min(r[1] for r in reaches), max(r[0] for r in reaches) + 1.0)


def _half_width(scaled, across, position, along):
    """The first whole distance from the line, in pixels, where the trail's median light is below the noise."""
    inside = (position >= along[0]) & (position <= along[1])
    distance = np.abs(across[inside]).round().astype(int)
    values = scaled[inside]
    near = distance <= 30
    medians = ndimage.median(values[near], labels=distance[near], index=np.arange(31))
    below = np.nonzero(np.asarray(medians) < 1.0)[0]
    return float(below[0]) if below.size else 30.0


def bad_column_mask(image):
    """Columns whose median stands ``COLUMN_SIGMA`` times its scatter away from its neighbours'
    (a hot or dead column, a charge-transfer trap); whole columns, as a detector spoils them."""
    sky, noise = sky_and_noise(image)
    columns = np.nanmedian(np.asarray(image, dtype=np.float32), axis=0)
    local = ndimage.median_filter(columns, size=9, mode="nearest")
    scatter = 1.2533 * noise / math.sqrt(image.shape[0])  # the standard error of a median of a column
    bad = np.abs(columns - local) > COLUMN_SIGMA * max(scatter, 1.4826 * float(np.median(np.abs(columns - local))))
    return np.broadcast_to(bad[None, :], image.shape).copy()


DETECTORS = {"satellite": trail_mask, "cosmic_rays": cosmic_ray_mask}


def flagged_mask(image, flags, *, gain=None):
    """(mask, what found each part, hidden) for a frame's flagged defects (names as
    ``DETECTORS``'), and its bad columns, which every detector would otherwise take for a trail or
    hits. ``hidden``: the pixels of the parts that leave nothing of the sky (every part but a
    trail, which adds its light to it: ``under_trails``)."""
    found = {}
    mask = bad_column_mask(image)
    hidden = mask.copy()
    if mask.any():
        found["bad columns"] = int(mask.any(axis=0).sum())
    for flag in flags:
        if flag not in DETECTORS:
            continue
        part = DETECTORS[flag](image, gain=gain) if flag == "cosmic_rays" else DETECTORS[flag](image)
        found[flag.replace("_", " ")] = int((part & ~mask).sum())
        mask |= part
        if flag != "satellite":
            hidden |= part
    return mask, found, hidden


def under_trails(image, mask, hidden):
    """(values, scatter): what the ``mask``ed pixels of a trail's band still say of the sky and
    stars beneath it (the frame less the trail's modelled light, ``trail_light``) and how noisily,
    for the repair to keep rather than guess; NaN in every other pixel, and in those ``hidden``
    (a hit or a bad column on the trail, a saturated pixel)."""
    light, scatter = trail_light(image)
    kept = mask & ~hidden & np.isfinite(scatter) & np.isfinite(image)
    return np.where(kept, image - light, np.nan), np.where(kept, scatter, np.nan)


def drawn_mask(shapes, shape):
    """The mask a curator drew: ``shapes`` is {"lines": [[x0, y0, x1, y1, width], …], "boxes":
    [[x0, y0, x1, y1], …]} in 0-based pixels of the frame's array (x a column, y a row), lines as
    wide as ``width`` pixels. Raises MaskRefused naming a shape that is not one."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    mask = np.zeros(shape, dtype=bool)
    unknown = set(shapes) - {"lines", "boxes"}
    if unknown:
        raise MaskRefused(f"a drawn mask has lines and boxes, not {', '.join(sorted(unknown))}")
    for number, line in enumerate(shapes.get("lines", []), start=1):
        x0, y0, x1, y1, thickness = _numbers(line, 5, f"line {number}")
        if thickness <= 0:
            raise MaskRefused(f"line {number} is {thickness:g} px wide; a line needs a width above 0")
        dx, dy = x1 - x0, y1 - y0
        span = dx * dx + dy * dy
        along = np.clip(((xx - x0) * dx + (yy - y0) * dy) / span, 0, 1) if span else np.zeros(shape)
        mask |= np.hypot(xx - (x0 + along * dx), yy - (y0 + along * dy)) <= thickness / 2
    for number, box in enumerate(shapes.get("boxes", []), start=1):
        x0, y0, x1, y1 = _numbers(box, 4, f"box {number}")
        mask |= (xx >= min(x0, x1)) & (xx <= max(x0, x1)) & (yy >= min(y0, y1)) & (yy <= max(y0, y1))
    return mask


def _numbers(values, count, name):
    if not isinstance(values, (list, tuple)) or len(values) != count:
        raise MaskRefused(f"{name} must be {count} numbers, not {values!r}")
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        raise MaskRefused(f"{name} must be {count} numbers, not {values!r}") from None
    if not all(math.isfinite(number) for number in numbers):
        raise MaskRefused(f"{name} has a number that is not finite: {values!r}")
    return numbers


def check_mask(mask, max_fraction):
    """``mask``, if a repair can fill it from what it leaves; else MaskRefused saying why."""
    masked = int(mask.sum())
    if masked == 0:
        raise MaskRefused("the mask covers none of the frame: there is nothing to repair")
    fraction = masked / mask.size
    if fraction >= 1:
        raise MaskRefused("the mask covers the whole frame: nothing is left to repair it from")
    if fraction > max_fraction:
        raise MaskRefused(f"the mask covers {fraction:.0%} of the frame; a repair fills narrow defects from the "
                          f"pixels round them, at most {max_fraction:.0%} of a frame")  # fmt: skip
    return mask
