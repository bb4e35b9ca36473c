"""Synthetic multi-site observation sets: one galaxy of known class seen by two to four of the
array's sites, each through its own seeing and sky and now and then spoilt (a satellite trail,
cosmic rays). What learned fusion (``networks.SetFusionTransformer``) learns from: no site
alone shows every galaxy well, and which one to trust changes from set to set.

The galaxies are the synthetic generator's (``synthetic_galaxies.galaxy_light``), the same
light observed again; every set is deterministic for its seed.
"""

import io
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from .synthetic_galaxies import BANDS, KINDS, PIXEL_SCALE_ARCSEC, SKY_PER_PIXEL, galaxy_light, observed

# site: (seeing FWHM range ″, sky relative to the survey's, chance a frame is spoilt)
SITE_CONDITIONS = {
    "tfn": ((0.9, 1.8), 1.0, 0.10),
    "elp": ((1.3, 2.8), 2.5, 0.15),
    "coj": ((1.0, 2.2), 1.5, 0.10),
}
SITES = tuple(SITE_CONDITIONS)
# What the network is told of each observation beside its site and pixels: only what a stored
# image says of itself, so a served image is described as the training sets were (see conditions).
FEATURES = ("seeing_arcsec", "seeing_reported", "noise_relative")
OBSERVATIONS = (2, 4)  # fewest and most in a set
UNREPORTED_SEEING = 0.25  # the share of training observations whose header gives no seeing
SEEING_KEYWORDS = ("SEEING", "L1FWHM")  # header keywords giving the seeing FWHM in arcsec (L1FWHM: LCO's pipeline)
READ_NOISE = 3.0  # the generator's, in counts (synthetic_galaxies.observed)


@dataclass
class Observation:
    site: str
    image: np.ndarray  # (band, y, x) float32, sky subtracted
    seeing_arcsec: float  # the truth, and what the header says unless seeing_reported is False
    sky_scale: float
    spoilt: bool
    seeing_reported: bool = True

    @property
    def reported_seeing(self):
        """The seeing as its header gives it (to 0.01″), or None."""
        return round(self.seeing_arcsec, 2) if self.seeing_reported else None

    @property
    def features(self):
        return conditions(self.image, self.reported_seeing)

    def fits_bytes(self):
        """The cutout as a FITS cube (band, y, x), its header saying what a site's would: the
        bands, the scale and, when reported, the seeing."""
        header = fits.Header()
        header["BANDS"] = (",".join(BANDS), "planes of the cube, in order")
        header["PIXSCALE"] = (PIXEL_SCALE_ARCSEC, "arcsec per pixel")
        header["SITE"] = (self.site, "the array's site that took it")
        if self.seeing_reported:
            header["SEEING"] = (self.reported_seeing, "FWHM of the seeing, arcsec")
        buffer = io.BytesIO()
        fits.PrimaryHDU(self.image, header).writeto(buffer)
        return buffer.getvalue()


def conditions(image, seeing_arcsec):
    """An observation's FEATURES: the seeing its header reports (0 with the flag down when it
    reports none) and its noise measured on the image, relative to the survey's sky and read
    noise (1 for a survey-depth cutout, 1.6 for a site with 2.5 times its sky). Whether a frame
    is spoilt is not among them: nothing stored says so, and the network sees trails itself."""
    reported = seeing_arcsec is not None
    return [float(seeing_arcsec) if reported else 0.0, float(reported), noise_relative(image)]


def noise_relative(image):
    """The image's pixel noise over the survey's, band by band, averaged. Measured on the
    differences of neighbouring pixels (their median absolute deviation, over √2), where a
    galaxy's smooth light cancels and its sky's noise does not: the border alone holds the
    galaxy too when it fills the cutout."""
    ratios = []
    for band, plane in enumerate(image):
        steps = np.diff(plane, axis=1).ravel()
        sigma = 1.4826 * np.nanmedian(np.abs(steps - np.nanmedian(steps))) / np.sqrt(2)
        ratios.append(sigma / np.sqrt(SKY_PER_PIXEL[band % len(SKY_PER_PIXEL)] + READ_NOISE**2))
    return float(np.mean(ratios))


def header_seeing(header):
    """The seeing FWHM in arcsec a FITS header reports (SEEING_KEYWORDS), or None."""
    for keyword in SEEING_KEYWORDS:
        value = header.get(keyword)
        if isinstance(value, (int, float)) and 0 < value < 30:
            return float(value)
    return None


@dataclass
class ObservationSet:
    seed: int
    kind: str
    observations: list


def observation_set(seed, kind=None, size=64):
    """The set for ``seed``: a galaxy (of ``kind``, or drawn) observed by 2–4 sites in turn."""
    galaxy = galaxy_light(seed, kind, size)
    rng = galaxy.rng
    count = int(rng.integers(OBSERVATIONS[0], OBSERVATIONS[1] + 1))
    observations = []
    for site in rng.choice(SITES, size=count):
        seen = observe_from(str(site), galaxy.light, rng)
        seen.seeing_reported = bool(rng.random() >= UNREPORTED_SEEING)
        observations.append(seen)
    return ObservationSet(seed, galaxy.kind, observations)


def observe_from(site, light, rng):
    """One night's cutout of ``light`` from ``site``: seeing and sky drawn from its conditions,
    now and then spoilt."""
    (best, worst), sky_scale, spoil_chance = SITE_CONDITIONS[site]
    seeing = float(rng.uniform(best, worst))
    image = observed(light, fwhm_arcsec=seeing, rng=rng, sky_scale=sky_scale)
    spoilt = bool(rng.random() < spoil_chance)
    if spoilt:
        _spoil(image, rng)
    return Observation(site, image, seeing, sky_scale, spoilt)


def observation_sets(count, seed=0, size=64):
    """``count`` sets cycling through the classes (balanced), seeds ``seed`` onwards."""
    return [observation_set(seed + number, KINDS[number % len(KINDS)], size) for number in range(count)]


def packed(sets, *, most=OBSERVATIONS[1]):
    """The sets as arrays a network reads (see ``stacked``), and beside them the truth the
    network is not told, for judging it: each observation's seeing and whether it was spoilt."""
    from .normalisation import asinh_normalise

    arrays = stacked([[(asinh_normalise(seen.image[None])[0], seen.site, seen.features) for seen in each.observations]
                      for each in sets], most=most)  # fmt: skip
    seeing, spoilt = np.zeros((len(sets), most), np.float32), np.zeros((len(sets), most), bool)
    for row, each in enumerate(sets):
        for column, seen in enumerate(each.observations):
            seeing[row, column], spoilt[row, column] = seen.seeing_arcsec, seen.spoilt
    return {**arrays, "seeing": seeing, "spoilt": spoilt}


def stacked(sets, *, most):
    """Sets given as lists of (normalised image (band, y, x), site code, conditions) as the
    arrays a network reads: images (N, most, band, y, x); sites (N, most) as indices into
    SITES; conditions (N, most, FEATURES); present (N, most), False in the empty slots of a
    shorter set."""
    bands, height, width = sets[0][0][0].shape
    images = np.zeros((len(sets), most, bands, height, width), np.float32)
    sites = np.zeros((len(sets), most), np.int64)
    conditions = np.zeros((len(sets), most, len(FEATURES)), np.float32)
    present = np.zeros((len(sets), most), bool)
    for row, observations in enumerate(sets):
        for column, (image, site, features) in enumerate(observations):
            images[row, column], sites[row, column], conditions[row, column] = image, SITES.index(site), features
            present[row, column] = True
    return {"images": images, "sites": sites, "conditions": conditions, "present": present}


def _spoil(image, rng):
    """A satellite trail across the cutout, or a shower of cosmic rays, in every band."""
    bands, height, width = image.shape
    peak = float(np.percentile(image, 99.5)) * 3 + 300
    if rng.random() < 0.5:
        y, x = np.mgrid[0:height, 0:width]
        angle, offset = rng.uniform(0, np.pi), rng.uniform(0.3, 0.7)
        distance = (x - width * offset) * np.sin(angle) - (y - height * offset) * np.cos(angle)
        image += (peak * np.exp(-(distance**2) / 2)).astype(np.float32)
    else:
        for _ in range(int(rng.integers(5, 15))):
            cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
            image[:, cy, cx : cx + int(rng.integers(1, 4))] += peak * rng.uniform(0.5, 2)
