"""The stars a repair's mask reaches, fitted with the frame's own point-spread function, so that
their masked pixels are given by their profile rather than guessed.

A star is the one thing in a frame whose shape is known beforehand: every star has the same
profile, scaled by its flux. Its pixels beside a mask, and those a trail only adds noise to,
fix that flux and position far better than any single pixel knows its own light: a pixel 5σ
above the sky is 20% off through its noise alone, while its star's fit is good to a few per cent.
A network that continues what surrounds the mask does not know that shape; a fit does.

The profile is an elliptical Moffat (Moffat 1969; Trujillo et al. 2001: the seeing's core and
wings), its widths, angle and β fitted to the frame's bright lone stars nearest the mask, and
how far it still misses each star tried measured: a frame where it misses one star in four by
more than ``MAX_PROFILE_ERROR`` (an undersampled space-telescope mosaic, a photographic plate's
non-linear stars) keeps its pixels' own say. The stars near the mask are
fitted in groups of those close enough to share pixels, with a constant for what the
background map leaves; a strong residual is taken as a companion and fitted too, and what the
fits leave is searched again for stars the seeing blurred into a neighbour (DAOPHOT's way,
Stetson 1987). A group whose pixels the profile cannot explain, or that holds a saturated
pixel, is left to the network; so is a "star" none of whose light shows beside the mask, as a
knot of a real trail is a lump as wide as the seeing that lies wholly under it. A galaxy under
a trail is no star: the profile misses its measured core, and its pixels keep their say. Where
nothing under the mask is known (a drawn band), a compact galaxy's wings beside it can pass for
a star's, and its core is then drawn as one (about 30% off for an effective radius near the
seeing's FWHM); no catalogue of which sources are stars is at hand to tell.

numpy, scipy and photutils' background map only: no torch, so it runs wherever frames are read.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from photutils.background import Background2D
from scipy import ndimage, optimize
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .defect_masks import sky_and_noise, star_fwhm_px

DETECTION_SIGMA = 5.0  # of a peak in the frame smoothed by its seeing
SEEN_SIGMA = 5.0  # of a star's light beside the mask, weighted by its profile: a trail's knot has none there
MIN_KNOWN_AROUND_PEAK = 0.25  # of the seeing's weight: a peak with less known round it is a guess
FIND_ROUNDS = 3  # of finding stars, fitting them and finding what their fits leave
SHAPE_STAR_SIGMA = 30.0  # a star bright enough to measure the profile from
SHAPE_STARS = 15  # the nearest such stars to the mask, each fitted alone
FIT_RADIUS_FWHM = 1.5  # pixels within this of a star's centre fit it
REACH_FWHM = 4.0  # a fitted star's light is drawn out to this far
NEAR_MASK_FWHM = 3.0  # a star this near the mask has light under it
PROFILE_ERROR = 0.03  # of a star's light: the least a Moffat is taken to miss a real profile by
SUBPIXELS = 3  # a profile is averaged over 3 × 3 points of each pixel: an undersampled star's peak is not its centre's
MAX_PROFILE_ERROR = 0.1  # a profile that misses the frame's bright stars by more is not used
MAX_CHI2 = 3.0  # mean squared residual over the noise a group may leave and still be taken as stars
MAX_ADDED_STARS = 3  # companions a group's residuals may add before it is left to the network
BACKGROUND_BOX_PX = 32
FOOTPRINT_SIGMA = 0.5  # a masked pixel whose modelled star light is above this share of the noise is given by it


@dataclass
class FittedStars:
    """What the fit says of the masked pixels. ``light``: the fitted stars' light (image units
    above the background, over the whole frame, 0 where none reaches); ``estimate``: the
    background plus that light on the masked pixels the stars' light decides (``footprint``),
    NaN elsewhere; ``error``: its standard deviation there from the fluxes' uncertainties.
    ``count`` stars were fitted; ``fwhm_px`` is the profile's seeing and ``misfit`` how far, as a
    share of their light, it misses the frame's bright stars (0 when no profile was measured)."""

    light: np.ndarray
    estimate: np.ndarray
    error: np.ndarray
    count: int
    fwhm_px: float
    misfit: float = 0.0

    @property
    def footprint(self):
        return np.isfinite(self.estimate)

    @classmethod
    def none(cls, shape, fwhm_px=0.0, misfit=0.0):
        """No star fitted: every masked pixel is left to the network."""
        empty = np.zeros(shape, np.float32)
        return cls(empty, np.full(shape, np.nan, np.float32), empty, 0, fwhm_px, misfit)


def fitted_stars(image, mask, *, beneath=None, unusable=None):
    """The stars within reach of ``mask`` fitted with the frame's profile (``FittedStars``).
    ``beneath`` (values, noise), as ``defect_masks.under_trails`` gives them, are what masked
    pixels still say (NaN where nothing); ``unusable`` marks pixels no profile describes
    (saturated ones): a group that holds one is not fitted."""
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    unusable = np.zeros(mask.shape, dtype=bool) if unusable is None else np.asarray(unusable, dtype=bool)
    values, measured_noise = beneath if beneath is not None else (np.full(image.shape, np.nan),) * 2
    level, _ = sky_and_noise(np.where(mask, np.nan, image))
    background = _background(image, mask, level)
    _, noise = sky_and_noise(np.where(mask, np.nan, image - background))  # a cloud's gradient is no noise
    sky = float(np.median(background))
    known = np.where(mask, values, image) - background
    known[unusable | ~np.isfinite(known)] = np.nan
    variance = np.where(mask, measured_noise, noise) ** 2
    photon_share = noise**2 / max(sky, noise**2)  # the sky's variance per count: a star's photons add this much
    fwhm = star_fwhm_px(np.where(mask | ~np.isfinite(image), sky, image), sky, noise)
    frame = _Frame(known, variance, photon_share, fwhm, unusable, mask)
    from_mask = ndimage.distance_transform_edt(~mask)

    def near_mask(points):
        return from_mask[points[:, 1], points[:, 0]] <= NEAR_MASK_FWHM * fwhm + 1

    stars, significance = _peaks(frame)
    near = near_mask(stars)
    shape, references = (None, []) if not near.any() else _profile_shape(frame, stars, significance, near, mask)
    if shape is None:
        return FittedStars.none(image.shape)
    frame.profile_error = frame.misfit(references, shape)
    if frame.profile_error > MAX_PROFILE_ERROR:  # an undersampled or odd profile: the pixels say more than it
        return FittedStars.none(image.shape, _Moffat(*shape).fwhm, frame.profile_error)
    light, model_variance, count = _fit_all(frame, stars, near, shape)
    for _ in range(FIND_ROUNDS):  # take the fits off and find again: a companion the seeing blurred
        more, _ = _peaks(frame, light)
        more = more[near_mask(more)]
        more = more[cKDTree(stars).query(more)[0] > fwhm] if len(more) else more
        if not len(more):
            break
        stars, near = np.concatenate([stars, more]), np.concatenate([near, np.ones(len(more), dtype=bool)])
        light, model_variance, count = _fit_all(frame, stars, near, shape)
    footprint = mask & (light > FOOTPRINT_SIGMA * noise)
    # The profile's estimate and a pixel's own measurement, each weighted by its inverse variance:
    # where the profile misses a star's pixels by much, what the trail left of them decides.
    measured = footprint & np.isfinite(values) & np.isfinite(measured_noise)
    measured_variance = np.where(measured, measured_noise**2 + np.clip(light, 0, None) * photon_share, np.inf)
    weight = 1 / (1 + model_variance / measured_variance)
    estimate = background + light + np.where(measured, (1 - weight) * (values - background - light), 0)
    error = np.sqrt(weight * model_variance)
    return FittedStars(light, np.where(footprint, estimate, np.nan).astype(np.float32),
                       np.where(footprint, error, 0).astype(np.float32), count, _Moffat(*shape).fwhm,
                       frame.profile_error)  # fmt: skip


def _fit_all(frame, stars, near, shape):
    """(light, its variance, how many stars) of the groups of ``stars`` near the mask that the
    profile ``shape`` explains."""
    light, model_variance, count = np.zeros(frame.known.shape, np.float32), np.zeros(frame.known.shape, np.float32), 0
    for group in _groups(stars, near, frame.fit_radius):
        fitted = frame.fit(group, shape)
        if fitted is None:
            continue
        found, misfit = fitted
        for flux, flux_error, x, y in found:
            box, profile = frame.drawn(x, y, shape)
            light[box] += flux * profile
            model_variance[box] += (flux_error**2 + (misfit * flux) ** 2) * profile**2
            count += 1
    return light, model_variance, count


def _background(image, mask, sky):
    """The frame's background map (photutils, ``BACKGROUND_BOX_PX`` boxes) from its unmasked pixels;
    its sky level throughout when the frame is too small or too masked for boxes."""
    unknown = mask | ~np.isfinite(image)
    try:
        return Background2D(np.where(unknown, sky, image), BACKGROUND_BOX_PX, mask=unknown, filter_size=3,
                            exclude_percentile=50).background  # fmt: skip
    except ValueError:
        return np.full(image.shape, sky, dtype=np.float32)


@dataclass
class _Moffat:
    """An elliptical Moffat profile of unit flux: widths ``alpha_x``, ``alpha_y`` along axes at
    ``theta``, and ``beta`` (large: a Gaussian; 2.5–4: typical seeing with its wings)."""

    alpha_x: float
    alpha_y: float
    theta: float
    beta: float

    def __call__(self, dx, dy):
        """The light in the pixels at offsets ``dx``, ``dy`` from the centre."""
        return _over_pixels(self._at, dx, dy)

    def gradient(self, dx, dy):
        """(∂/∂dx, ∂/∂dy) of the pixels' light: how it changes as the star moves, for a fit's Jacobian."""
        return _over_pixels(lambda x, y: np.stack(self._slope(x, y)), dx, dy)

    def _at(self, dx, dy):
        u, v = self._axes(dx, dy)
        return (self.beta - 1) / (math.pi * self.alpha_x * self.alpha_y) * (1 + u * u + v * v) ** (-self.beta)

    def _slope(self, dx, dy):
        cos, sin = math.cos(self.theta), math.sin(self.theta)
        u, v = self._axes(dx, dy)
        falling = -self.beta * (self.beta - 1) / (math.pi * self.alpha_x * self.alpha_y) * (1 + u * u + v * v) ** (
            -self.beta - 1)  # fmt: skip
        return (falling * (2 * u * cos / self.alpha_x - 2 * v * sin / self.alpha_y),
                falling * (2 * u * sin / self.alpha_x + 2 * v * cos / self.alpha_y))  # fmt: skip

    def _axes(self, dx, dy):
        cos, sin = math.cos(self.theta), math.sin(self.theta)
        return (cos * dx + sin * dy) / self.alpha_x, (-sin * dx + cos * dy) / self.alpha_y

    @classmethod
    def from_fwhm(cls, fwhm_x, fwhm_y, theta, inverse_beta):
        """Parametrised by what stays finite towards a Gaussian: FWHMs and 1/β."""
        to_alpha = 2 * math.sqrt(2**inverse_beta - 1)
        return cls(fwhm_x / to_alpha, fwhm_y / to_alpha, theta, 1 / inverse_beta)

    @property
    def fwhm(self):
        return 2 * math.sqrt(2 ** (1 / self.beta) - 1) * math.sqrt(self.alpha_x * self.alpha_y)

    def as_fwhm(self):
        """The parameters ``from_fwhm`` takes."""
        to_fwhm = 2 * math.sqrt(2 ** (1 / self.beta) - 1)
        return [self.alpha_x * to_fwhm, self.alpha_y * to_fwhm, self.theta, min(max(1 / self.beta, 0.01), 0.8)]

    def matrix(self):
        """The widths and angle as one symmetric matrix, which averages across stars without an
        angle's wrap-around."""
        cos, sin = math.cos(self.theta), math.sin(self.theta)
        rotation = np.array([[cos, -sin], [sin, cos]])
        return rotation @ np.diag([self.alpha_x**2, self.alpha_y**2]) @ rotation.T

    @classmethod
    def from_matrix(cls, matrix, beta):
        widths, axes = np.linalg.eigh(matrix)
        return cls(math.sqrt(widths[0]), math.sqrt(widths[1]), math.atan2(axes[1, 0], axes[0, 0]), beta)


def _over_pixels(function, dx, dy):
    """``function`` averaged over ``SUBPIXELS`` × ``SUBPIXELS`` points of each pixel."""
    offsets = (np.arange(SUBPIXELS) + 0.5) / SUBPIXELS - 0.5
    return sum(function(dx + ox, dy + oy) for ox in offsets for oy in offsets) / SUBPIXELS**2


class _Fit(NamedTuple):
    """A least-squares fit: what it found (stars, or a profile), each pixel's residual in σ, their
    mean square, and the stars' light and the constant at the pixels."""

    fitted: object
    residuals: np.ndarray
    chi2: float
    light: np.ndarray
    constant: float


class _Frame:
    """The frame as the fits see it: ``known`` counts above the background (NaN where nothing is
    known) and their noise's ``variance``, less a star's own photons (``photon_share`` of its counts)."""

    def __init__(self, known, variance, photon_share, fwhm, unusable, mask):
        self.known, self.variance, self.photon_share, self.fwhm = known, variance, photon_share, fwhm
        self.unusable, self.mask = unusable, mask
        self.profile_error = PROFILE_ERROR
        self.fit_radius = max(3.0, FIT_RADIUS_FWHM * fwhm)
        self.reach = int(math.ceil(REACH_FWHM * fwhm + 3))

    def fit(self, centres, shape):
        """([(flux, its error, x, y)], misfit) of the stars at ``centres`` with the profile ``shape``
        fixed, or None when their pixels hold what the profile cannot explain. A strong residual is
        taken as a companion, added, and the group fitted again. The misfit is how far the profile
        misses their pixels beyond the noise, as a share of their light (at least the frame's)."""
        centres = [tuple(map(float, centre)) for centre in centres]
        for _ in range(MAX_ADDED_STARS + 1):
            pixels = self._pixels(centres)
            if pixels is None:
                return None
            result = self._least_squares(pixels, centres, shape)
            if result is None:
                return None
            unseen = self._unseen(pixels, result, shape)
            if unseen:  # a trail's knot is a lump of light as wide as the seeing, but none of it lies beside the trail
                centres = [centre for index, centre in enumerate(centres) if index not in unseen]
                if not centres:
                    return None
                continue
            if result.chi2 <= MAX_CHI2:
                excess, squared_light = _excess(pixels, result, 3)
                misfit = math.sqrt(excess / squared_light) if squared_light else 0.0
                return result.fitted, max(self.profile_error, misfit)
            worst = int(np.argmax(result.residuals))
            if result.residuals[worst] < DETECTION_SIGMA:
                return None
            centres.append((float(pixels[0][worst]), float(pixels[1][worst])))
        return None

    def fit_shape(self, centre):
        """The profile of the one star at ``centre`` with its shape free, or None if it is no lone star."""
        pixels = self._pixels([centre])
        if pixels is None:
            return None
        result = self._least_squares(pixels, [centre], None)
        if result is None or result.chi2 > MAX_CHI2:
            return None
        return result.fitted

    def refined(self, centres, start):
        """The profile fitted to the stars at ``centres`` together, from ``start``: the bright ones
        weigh most, as their pixels say most of its shape."""
        each = [self._pixels([centre]) for centre in centres]
        pixels = [np.concatenate(parts) for parts in zip(*each)]
        result = self._least_squares(pixels, centres, None, start_shape=start)
        return start if result is None else result.fitted

    def misfit(self, centres, shape):
        """How far, as a share of a star's light, the profile ``shape`` misses the pixels of the stars
        at ``centres`` beyond their noise (their pixels 10σ bright): the upper quartile over the
        stars, so that a blend among them does not speak for the frame but a profile must describe
        most of its stars; how much a pixel's estimate from it may be trusted; at least
        ``PROFILE_ERROR``."""
        misses = []
        for centre in centres:
            pixels = self._pixels([centre])
            result = None if pixels is None else self._least_squares(pixels, [centre], shape)
            excess, squared_light = (0.0, 0.0) if result is None else _excess(pixels, result, 10)
            if squared_light:
                misses.append(math.sqrt(excess / squared_light))
        return max(PROFILE_ERROR, float(np.percentile(misses, 75)) if misses else PROFILE_ERROR)

    def drawn(self, x, y, shape):
        """(box, profile of unit flux in it) of a star at x, y out to its reach."""
        height, width = self.known.shape
        top, left = max(0, int(y) - self.reach), max(0, int(x) - self.reach)
        rows, columns = np.mgrid[top : min(height, int(y) + self.reach + 1), left : min(width, int(x) + self.reach + 1)]
        box = (slice(top, rows.shape[0] + top), slice(left, columns.shape[1] + left))
        return box, _Moffat(*shape)(columns - x, rows - y)

    def _unseen(self, pixels, result, shape):
        """Indices of the stars ``result`` fitted whose light beside the mask is not there: beyond the
        masked pixels, a star's fitted profile must show ``SEEN_SIGMA`` above their noise."""
        x, y, counts, variance, beside = pixels
        if result.chi2 > MAX_CHI2 or not beside.any():
            return []
        profile = _Moffat(*shape)
        unseen = []
        for index, (flux, _, cx, cy) in enumerate(result.fitted):
            own = flux * profile(x[beside] - cx, y[beside] - cy)
            others = result.light[beside] - own
            seen = (counts[beside] - others - result.constant) * own / max(own.max(), 1e-12)  # weighted by its profile
            noise = math.sqrt(float((variance[beside] * (own / max(own.max(), 1e-12)) ** 2).sum()))
            if seen.sum() < SEEN_SIGMA * noise:
                unseen.append(index)
        return unseen

    def _pixels(self, centres):
        """(x, y, counts, variance, beside the mask) of the known pixels within the fit radius of any
        of ``centres``; None when an unusable pixel is among them."""
        height, width = self.known.shape
        xs, ys = [c[0] for c in centres], [c[1] for c in centres]
        top, bottom = max(0, int(min(ys) - self.fit_radius)), min(height, int(max(ys) + self.fit_radius) + 2)
        left, right = max(0, int(min(xs) - self.fit_radius)), min(width, int(max(xs) + self.fit_radius) + 2)
        rows, columns = np.mgrid[top:bottom, left:right]
        inside = np.zeros(rows.shape, dtype=bool)
        for x, y in centres:
            inside |= np.hypot(columns - x, rows - y) <= self.fit_radius
        if self.unusable[top:bottom, left:right][inside].any():
            return None
        known = self.known[top:bottom, left:right]
        inside &= np.isfinite(known)
        counts = known[inside].astype(np.float64)
        variance = self.variance[top:bottom, left:right][inside] + np.clip(counts, 0, None) * self.photon_share
        beside = ~self.mask[top:bottom, left:right][inside]
        return columns[inside].astype(np.float64), rows[inside].astype(np.float64), counts, variance, beside

    def _least_squares(self, pixels, centres, shape, *, start_shape=None):
        """The ``_Fit`` of the stars at ``centres`` and a constant; with ``shape`` None, the profile's
        shape is fitted too (from ``start_shape``, a ``_Moffat``, if given) and is what it holds as
        ``fitted``."""
        x, y, counts, variance, _ = pixels
        count = len(centres)
        if len(counts) < 3 * count + 2 + (4 if shape is None else 0):
            return None
        sigma = self.fwhm / 2.3548
        start, low, high = [], [], []
        for cx, cy in centres:
            peak = self.known[int(round(cy)), int(round(cx))]
            start += [max(float(np.nan_to_num(peak)), 1.0) * 2 * math.pi * sigma**2, cx + 1e-3, cy + 1e-3]
            low += [0.0, cx - self.fwhm, cy - self.fwhm]
            high += [np.inf, cx + self.fwhm, cy + self.fwhm]
        start, low, high = start + [0.0], low + [-np.inf], high + [np.inf]
        if shape is None:  # FWHMs along and across, angle, 1/β: a Gaussian is 1/β → 0
            start += start_shape.as_fwhm() if start_shape else [self.fwhm, self.fwhm * 1.01, 0.0, 0.3]
            low += [0.5, 0.5, -np.inf, 0.01]
            high += [3 * self.fwhm, 3 * self.fwhm, np.inf, 0.8]

        def model(parameters):
            profile = _Moffat(*shape) if shape is not None else _Moffat.from_fwhm(*parameters[-4:])
            light = np.zeros_like(counts)
            for index in range(count):
                flux, cx, cy = parameters[3 * index : 3 * index + 3]
                light += flux * profile(x - cx, y - cy)
            return light, parameters[3 * count]

        # the profile's own error is a share of the counts, not of the model: a model made broad and
        # bright would otherwise excuse its own residuals
        noise = np.sqrt(variance + (self.profile_error * np.clip(counts, 0, None)) ** 2)

        def residuals(parameters):
            light, constant = model(parameters)
            return (counts - light - constant) / noise

        def jacobian(parameters):  # with the profile fixed: each star's flux and position, and the constant
            profile = _Moffat(*shape)
            columns = []
            for index in range(count):
                flux, cx, cy = parameters[3 * index : 3 * index + 3]
                along_x, along_y = profile.gradient(x - cx, y - cy)
                columns += [-profile(x - cx, y - cy), flux * along_x, flux * along_y]
            return np.stack([*columns, -np.ones_like(counts)], axis=1) / noise[:, None]

        solution = optimize.least_squares(residuals, np.array(start), jac="2-point" if shape is None else jacobian,
                                          bounds=(low, high), x_scale="jac", max_nfev=200)  # fmt: skip
        chi2 = float(np.mean(solution.fun**2))
        light, constant = model(solution.x)
        if shape is None:
            return _Fit(_Moffat.from_fwhm(*solution.x[-4:]), solution.fun, chi2, light, constant)
        covariance = np.linalg.pinv(solution.jac.T @ solution.jac)
        fitted = [(solution.x[3 * k], math.sqrt(max(covariance[3 * k, 3 * k], 0.0)), *solution.x[3 * k + 1 : 3 * k + 3])
                  for k in range(count)]  # fmt: skip
        return _Fit(fitted, solution.fun, chi2, light, constant)


def _excess(pixels, result, sigmas):
    """(Σ residual² less the noise's variance, Σ light²) over the pixels where the fitted light is
    ``sigmas`` above the noise: the parts of how far a profile misses them. The excess is less
    twice its own noise, so that a faint star's few pixels do not make up a misfit by chance."""
    _, _, counts, variance, _ = pixels
    bright = result.light > sigmas * np.sqrt(variance)
    excess = ((counts - result.light - result.constant) ** 2 - variance)[bright].sum()
    chance = 2 * math.sqrt(2 * float((variance[bright] ** 2).sum()))  # a χ² sum's spread is √(2 Σ σ⁴)
    return max(float(excess) - chance, 0.0), float((result.light[bright] ** 2).sum())


def _peaks(frame, fitted=0):
    """((x, y), significance) of the local maxima of the frame's known counts less the ``fitted``
    light, smoothed by the seeing, that stand ``DETECTION_SIGMA`` above their own noise and the
    fits' misfit (a trail's pixels are noisier; unknown ones carry no weight, but a star whose
    core a drawn mask hides still peaks where its wings on either side meet)."""
    width = frame.fwhm / 2.3548
    known = np.isfinite(frame.known)
    weight = np.maximum(ndimage.gaussian_filter(known.astype(np.float32), width), 1e-6)
    smoothed = ndimage.gaussian_filter(np.where(known, frame.known - fitted, 0), width) / weight
    counts = np.clip(np.where(known, frame.known, 0), 0, None)
    variance = frame.variance + counts * frame.photon_share + (frame.profile_error * fitted) ** 2
    variance = ndimage.gaussian_filter(np.where(known, variance, 0), width) / weight
    surrounded = weight >= MIN_KNOWN_AROUND_PEAK  # elsewhere too little is known to say
    significance = np.zeros_like(smoothed)
    significance[surrounded] = smoothed[surrounded] / np.sqrt(variance[surrounded] / (4 * math.pi * width**2))
    box = 2 * max(2, int(round(frame.fwhm))) + 1
    smoothed = np.where(surrounded, smoothed, -np.inf)
    peaks = (smoothed == ndimage.maximum_filter(smoothed, box)) & (significance > DETECTION_SIGMA)
    rows, columns = np.nonzero(peaks)
    return np.stack([columns, rows], axis=1), significance[rows, columns]


def _profile_shape(frame, stars, significance, near, mask):
    """((alpha_x, alpha_y, theta, beta), the stars it was tried on) of the frame's profile: the
    median, as a width matrix and β, of the lone stars ``SHAPE_STAR_SIGMA`` bright nearest the
    mask but not ``near`` it (the seeing and the optics change across a frame); (None, []) when
    there are none."""
    lone = np.array([len(found) == 1 for found in cKDTree(stars).query_ball_point(stars, 2 * frame.fit_radius)])
    chosen = stars[(significance >= SHAPE_STAR_SIGMA) & lone & ~near]
    distances = ndimage.distance_transform_edt(~mask)[chosen[:, 1], chosen[:, 0]]
    shapes, fitted, tried = [], [], []
    for x, y in chosen[np.argsort(distances)]:
        tried.append((float(x), float(y)))
        shape = frame.fit_shape(tried[-1])
        if shape is not None:
            shapes.append(shape)
            fitted.append(tried[-1])
        if len(shapes) == SHAPE_STARS:
            break
    if not shapes:
        return None, []
    matrix = np.median([s.matrix() for s in shapes], axis=0)
    profile = frame.refined(fitted, _Moffat.from_matrix(matrix, float(np.median([s.beta for s in shapes]))))
    # how far it misses is measured on every star tried, not only those it fitted alone: where a
    # Moffat fits few of a frame's stars, the few it fits would say it fits them all
    return (profile.alpha_x, profile.alpha_y, profile.theta, profile.beta), tried


def _groups(stars, near, fit_radius):
    """Lists of (x, y): each star near the mask with every star close enough to share its pixels,
    joined where they share any (friends of friends)."""
    pairs = cKDTree(stars).query_pairs(2 * fit_radius, output_type="ndarray")
    pairs = pairs[near[pairs].any(axis=1)]  # a chain of stars away from the mask needs no fitting
    links = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(stars), len(stars)))
    _, labels = connected_components(links, directed=False)
    return [stars[labels == label] for label in np.unique(labels[near])]
