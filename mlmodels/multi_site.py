"""Synthetic multi-site observation sets: one galaxy of known class seen by two to four of the
array's sites, each through its own seeing and sky and now and then spoilt (a satellite trail,
cosmic rays). What learned fusion (``networks.SetFusionTransformer``) learns from: no site
alone shows every galaxy well, and which one to trust changes from set to set.

The galaxies are the synthetic generator's (``synthetic_galaxies.galaxy_light``), the same
light observed again; every set is deterministic for its seed.
"""

from dataclasses import dataclass

import numpy as np

from .synthetic_galaxies import KINDS, galaxy_light, observed

# site: (seeing FWHM range ″, sky relative to the survey's, chance a frame is spoilt)
SITE_CONDITIONS = {
    "tfn": ((0.9, 1.8), 1.0, 0.10),
    "elp": ((1.3, 2.8), 2.5, 0.15),
    "coj": ((1.0, 2.2), 1.5, 0.10),
}
SITES = tuple(SITE_CONDITIONS)
FEATURES = ("seeing_arcsec", "sky_scale", "spoilt")  # per observation, beside its site and cutout
OBSERVATIONS = (2, 4)  # fewest and most in a set


@dataclass
class Observation:
    site: str
    image: np.ndarray  # (band, y, x) float32, sky subtracted
    seeing_arcsec: float
    sky_scale: float
    spoilt: bool

    @property
    def features(self):
        return [self.seeing_arcsec, self.sky_scale, float(self.spoilt)]


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
        (best, worst), sky_scale, spoil_chance = SITE_CONDITIONS[site]
        seeing = float(rng.uniform(best, worst))
        image = observed(galaxy.light, fwhm_arcsec=seeing, rng=rng, sky_scale=sky_scale)
        spoilt = bool(rng.random() < spoil_chance)
        if spoilt:
            _spoil(image, rng)
        observations.append(Observation(str(site), image, seeing, sky_scale, spoilt))
    return ObservationSet(seed, galaxy.kind, observations)


def observation_sets(count, seed=0, size=64):
    """``count`` sets cycling through the classes (balanced), seeds ``seed`` onwards."""
    return [observation_set(seed + number, KINDS[number % len(KINDS)], size) for number in range(count)]


def packed(sets, *, most=OBSERVATIONS[1]):
    """The sets as arrays a network reads: images (N, most, band, y, x), normalised; sites
    (N, most) as indices into SITES; conditions (N, most, FEATURES); present (N, most), False
    in the empty slots of a shorter set."""
    from .normalisation import asinh_normalise

    bands, height, width = sets[0].observations[0].image.shape
    images = np.zeros((len(sets), most, bands, height, width), np.float32)
    sites = np.zeros((len(sets), most), np.int64)
    conditions = np.zeros((len(sets), most, len(FEATURES)), np.float32)
    present = np.zeros((len(sets), most), bool)
    for row, each in enumerate(sets):
        for column, seen in enumerate(each.observations):
            images[row, column] = asinh_normalise(seen.image[None])[0]
            sites[row, column], conditions[row, column] = SITES.index(seen.site), seen.features
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
