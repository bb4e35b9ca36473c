"""Synthetic galaxies of known morphology: the first training sets, and the demo's galaxy images.

Each galaxy is built from astropy.modeling Sersic profiles — a bulge (n 2–5) and an
exponential disk (n = 1) — with what makes a morphology: logarithmic spiral arms, a bar, a
disk seen edge-on with its dust lane, a companion and a tidal tail (mergers), star-forming
clumps (irregulars). Components have their own colours in g, r and z (red bulges, blue
arms and clumps), are convolved with the seeing, and get sky and Poisson noise, as DECaLS
cutouts have (0.262″ pixels).

Labels are the class and simulated Galaxy Zoo DECaLS votes: forty volunteers walk the
decision tree, each answering the truth with a probability that falls as the galaxy gets
fainter, so vote fractions are as uncertain as real ones. Everything is deterministic
for a given seed.
"""

import io
import math
from dataclasses import dataclass, field

import numpy as np
from astropy.convolution import Gaussian2DKernel, convolve_fft
from astropy.io import fits
from astropy.modeling.models import Gaussian2D, Sersic2D

from .galaxy_zoo import DECALS_TREE, is_reached

KINDS = ("elliptical", "spiral", "barred_spiral", "edge_on", "merger", "irregular")
BANDS = ("g", "r", "z")
PIXEL_SCALE_ARCSEC = 0.262
VOLUNTEERS = 40
# Flux in each band relative to r: old stars are red, young ones blue.
COLOURS = {"bulge": (0.55, 1.0, 1.45), "disk": (0.85, 1.0, 1.15), "young": (1.35, 1.0, 0.75)}
# How far one galaxy's g − r strays from its class's (mag, one standard deviation): ages and
# metallicities differ from galaxy to galaxy. The red sequence is tight (~0.04 mag in DECaLS),
# star-forming and disturbed galaxies spread wider; without it every galaxy of a class would
# share one colour to photometry's precision, which no survey sees.
COLOUR_SCATTER = {"elliptical": 0.04, "spiral": 0.07, "barred_spiral": 0.07, "edge_on": 0.08, "merger": 0.08,
                  "irregular": 0.1}  # fmt: skip
SKY_PER_PIXEL = (30.0, 60.0, 150.0)  # counts, g r z: brighter sky in the red
READ_NOISE = 3.0  # counts
SKY_NOISE = tuple(round(math.sqrt(sky + READ_NOISE**2), 3) for sky in SKY_PER_PIXEL)  # a blank pixel's spread
ZERO_POINT = 22.5 + 2.5 * math.log10(600)  # magnitude of one count: an r = 22.5 galaxy gives 600 counts
# How often a survey meets each class (Galaxy Zoo: mergers are a few per cent); sums to 1.
SURVEY_MIX = {"elliptical": 0.3, "spiral": 0.25, "barred_spiral": 0.15, "edge_on": 0.12, "irregular": 0.15,
              "merger": 0.03}  # fmt: skip


@dataclass
class SyntheticGalaxy:
    seed: int
    kind: str
    image: np.ndarray  # (band, y, x) float32, sky subtracted
    answers: dict  # the true answer to each question on its path through the tree
    votes: dict  # question -> answer -> number of simulated volunteers
    params: dict = field(default_factory=dict)

    def fits_bytes(self):
        """A FITS cube (band, y, x) with the labels in its header, as cutouts are stored."""
        header = fits.Header()
        header["BANDS"] = (",".join(BANDS), "planes of the cube, in order")
        header["PIXSCALE"] = (PIXEL_SCALE_ARCSEC, "arcsec per pixel")
        header["GALKIND"] = (self.kind, "synthetic galaxy class")
        header["GALSEED"] = (self.seed, "generator seed")
        buffer = io.BytesIO()
        fits.PrimaryHDU(self.image, header).writeto(buffer)
        return buffer.getvalue()


@dataclass
class GalaxyLight:
    """A galaxy above the atmosphere: its light in each band (counts, before seeing and noise),
    what it is, and the generator's state to observe it with."""

    kind: str
    light: np.ndarray  # (band, y, x) float64
    answers: dict
    params: dict
    rng: np.random.Generator


def galaxy_light(seed, kind=None, size=64):
    """The galaxy ``make_galaxy`` draws for ``seed``, before the seeing and the noise: what
    several sites each observe in their own way (``mlmodels.multi_site``)."""
    rng = np.random.default_rng(seed)
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    if kind not in KINDS:
        raise ValueError(f"unknown galaxy kind {kind!r}; choose from {', '.join(KINDS)}")
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2 + rng.uniform(-1.5, 1.5, 2)
    scale = size / 64  # sizes below are for a 64-pixel cutout
    components, answers, params = _BUILDERS[kind](rng, x, y, centre, scale)
    magnitude = rng.uniform(15.5, 19.0)  # r band; brighter galaxies get surer votes
    total_r = 10 ** (-0.4 * (magnitude - 22.5)) * 600  # counts in r for the whole galaxy
    r_sum = sum(image.sum() * COLOURS[colour][1] for colour, image in components) or 1.0
    scale_of_band = np.array(_tint(seed, kind)) * total_r / r_sum
    light = np.stack([sum(image * COLOURS[colour][band] for colour, image in components) * scale_of_band[band]
                      for band in range(len(BANDS))])  # fmt: skip
    params.update(magnitude_r=round(magnitude, 2))
    return GalaxyLight(kind, light, answers, params, rng)


def _tint(seed, kind):
    """Per band, the factor that gives this galaxy its own colour: g − r shifted by a draw of
    ``COLOUR_SCATTER[kind]`` and r − z along the colour locus (redder in g − r is redder in r − z),
    r unchanged so the galaxy keeps its magnitude. Drawn from a stream of its own, so the rest
    of the seed's galaxy — shape, size, noise, votes — is the one it always was."""
    rng = np.random.default_rng([seed, 1])
    shift_gr = rng.normal(0, COLOUR_SCATTER[kind])
    shift_rz = 0.7 * shift_gr + rng.normal(0, COLOUR_SCATTER[kind] / 2)
    return 10 ** (-0.4 * shift_gr), 1.0, 10 ** (0.4 * shift_rz)


def observed(light, *, fwhm_arcsec, rng, sky_scale=1.0):
    """``light`` (band, y, x) through a Gaussian seeing of ``fwhm_arcsec`` with sky (``sky_scale``
    times the survey's) and Poisson and read noise, sky subtracted: one night's cutout."""
    kernel = Gaussian2DKernel(fwhm_arcsec / PIXEL_SCALE_ARCSEC / 2.3548)
    planes = []
    for band, plane in enumerate(light):
        plane = convolve_fft(plane, kernel, boundary="fill", fill_value=0.0, normalize_kernel=True)
        sky = SKY_PER_PIXEL[band] * sky_scale
        noisy = rng.poisson(np.clip(plane, 0, None) + sky).astype(np.float64) - sky
        noisy += rng.normal(0, READ_NOISE, plane.shape)
        planes.append(noisy)
    return np.stack(planes).astype(np.float32)


def make_galaxy(seed, kind=None, size=64):
    """One galaxy; ``kind`` is one of KINDS, or drawn from the seed."""
    galaxy = galaxy_light(seed, kind, size)
    fwhm_arcsec = galaxy.rng.uniform(0.9, 1.5)
    image = observed(galaxy.light, fwhm_arcsec=fwhm_arcsec, rng=galaxy.rng)
    params = dict(galaxy.params, seeing_arcsec=round(fwhm_arcsec, 2))
    votes = _votes(galaxy.rng, galaxy.answers, galaxy.params["magnitude_r"])
    return SyntheticGalaxy(seed, galaxy.kind, image, galaxy.answers, votes, params)


def make_galaxies(count, seed=0, size=64, kinds=KINDS):
    """``count`` galaxies cycling through ``kinds`` (balanced classes), seeds ``seed`` onwards."""
    return [make_galaxy(seed + number, kinds[number % len(kinds)], size) for number in range(count)]


def survey_kinds(count, seed=0):
    """``count`` classes drawn in ``SURVEY_MIX``'s proportions, the same for a seed."""
    rng = np.random.default_rng(seed)
    names = list(SURVEY_MIX)
    return [names[index] for index in rng.choice(len(names), size=count, p=list(SURVEY_MIX.values()))]


def survey_galaxies(count, seed=0, size=64, only=None):
    """(images (N, bands, H, W) in counts, class indices (N,)): ``count`` galaxies in survey
    proportions, seeds ``seed`` onwards, the same for a seed; or, ``only`` a class, just those
    of them of that class (drawing the others would be wasted)."""
    drawn = [(seed + number, kind) for number, kind in enumerate(survey_kinds(count, seed)) if only in (None, kind)]
    images = [make_galaxy(galaxy_seed, kind, size).image for galaxy_seed, kind in drawn]
    images = np.stack(images) if images else np.zeros((0, len(BANDS), size, size))
    return images, np.array([KINDS.index(kind) for _, kind in drawn], dtype=np.int64)


def _geometry(x, y, centre, angle, axis_ratio):
    """Radius and azimuth in the galaxy's own (deprojected) plane."""
    dx, dy = x - centre[0], y - centre[1]
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = (-dx * math.sin(angle) + dy * math.cos(angle)) / axis_ratio
    return np.hypot(along, across), np.arctan2(across, along), across


def _sersic(x, y, centre, r_eff, n, axis_ratio, angle, amplitude=1.0):
    model = Sersic2D(amplitude=amplitude, r_eff=r_eff, n=n, x_0=centre[0], y_0=centre[1],
                     ellip=1 - axis_ratio, theta=angle)  # fmt: skip
    return model(x, y)


def _bulge_size(bulge_fraction):
    for limit, answer in ((0.6, "dominant"), (0.4, "large"), (0.2, "moderate"), (0.05, "small")):
        if bulge_fraction >= limit:
            return answer
    return "none"


def _elliptical(rng, x, y, centre, scale):
    axis_ratio, angle = rng.uniform(0.35, 1.0), rng.uniform(0, math.pi)
    r_eff, n = rng.uniform(4, 9) * scale, rng.uniform(2.5, 5.0)
    image = _sersic(x, y, centre, r_eff, n, axis_ratio, angle)
    rounded = "round" if axis_ratio > 0.8 else "in-between" if axis_ratio > 0.5 else "cigar-shaped"
    answers = {"smooth-or-featured": "smooth", "how-rounded": rounded, "merging": "none"}
    return [("bulge", image)], answers, {"axis_ratio": axis_ratio, "sersic_n": n}


def _disk_galaxy(rng, x, y, centre, scale, *, arms, bar):
    axis_ratio, angle = rng.uniform(0.45, 1.0), rng.uniform(0, math.pi)
    disk_r = rng.uniform(6, 11) * scale
    bulge_fraction = rng.uniform(0.05, 0.5)
    disk = _sersic(x, y, centre, disk_r, 1.0, axis_ratio, angle)
    bulge = _sersic(x, y, centre, disk_r * 0.3, rng.uniform(2, 4), min(1.0, axis_ratio + 0.2), angle)
    bulge *= bulge_fraction / (1 - bulge_fraction) * disk.sum() / bulge.sum()
    components = [("disk", disk * 0.6), ("bulge", bulge)]
    answers = {"smooth-or-featured": "featured-or-disk", "disk-edge-on": "no", "bar": "no",
               "has-spiral-arms": "yes" if arms else "no", "bulge-size": _bulge_size(bulge_fraction),
               "merging": "none"}  # fmt: skip
    params = {"axis_ratio": axis_ratio, "bulge_fraction": bulge_fraction}
    if arms:
        count = int(rng.choice([2, 2, 2, 3, 4]))
        pitch = rng.uniform(10, 35)
        radius, azimuth, _ = _geometry(x, y, centre, angle, axis_ratio)
        phase = count * (azimuth - np.log(np.maximum(radius, 0.5) / disk_r) / math.tan(math.radians(pitch)))
        pattern = np.clip(np.cos(phase), 0, None) ** 2 * np.exp(-radius / (1.4 * disk_r))
        components.append(("young", pattern * disk.max() * rng.uniform(0.9, 1.4)))
        answers["spiral-winding"] = "tight" if pitch < 17 else "medium" if pitch < 26 else "loose"
        answers["spiral-arm-count"] = str(count)
        params.update(arm_count=count, pitch_deg=round(pitch, 1))
    if bar:
        strength = rng.uniform(0.4, 1.0)
        bar_image = _sersic(x, y, centre, disk_r * 0.55, 0.5, 0.22, angle + rng.uniform(0.3, 1.2))
        components.append(("bulge", bar_image * strength * disk.max() / bar_image.max() * 1.5))
        answers["bar"] = "strong" if strength > 0.7 else "weak"
        params["bar_strength"] = round(strength, 2)
    return components, answers, params


def _spiral(rng, x, y, centre, scale):
    return _disk_galaxy(rng, x, y, centre, scale, arms=True, bar=False)


def _barred_spiral(rng, x, y, centre, scale):
    return _disk_galaxy(rng, x, y, centre, scale, arms=True, bar=True)


def _edge_on(rng, x, y, centre, scale):
    angle, disk_r = rng.uniform(0, math.pi), rng.uniform(8, 13) * scale
    axis_ratio = rng.uniform(0.08, 0.2)
    disk = _sersic(x, y, centre, disk_r, 1.0, axis_ratio, angle)
    _, _, across = _geometry(x, y, centre, angle, 1.0)
    disk *= 1 - rng.uniform(0.4, 0.8) * np.exp(-0.5 * (across / rng.uniform(0.6, 1.2)) ** 2)  # the dust lane
    bulge_fraction = rng.uniform(0.0, 0.45)
    components = [("disk", disk)]
    if bulge_fraction > 0.05:
        bulge = _sersic(x, y, centre, disk_r * 0.3, 2.5, rng.uniform(0.6, 0.9), angle)
        components.append(("bulge", bulge * bulge_fraction / (1 - bulge_fraction) * disk.sum() / bulge.sum()))
    answers = {"smooth-or-featured": "featured-or-disk", "disk-edge-on": "yes",
               "edge-on-bulge": "rounded" if bulge_fraction > 0.05 else "none", "merging": "none"}  # fmt: skip
    return components, answers, {"axis_ratio": axis_ratio, "bulge_fraction": bulge_fraction}


def _merger(rng, x, y, centre, scale):
    separation, direction = rng.uniform(8, 16) * scale, rng.uniform(0, 2 * math.pi)
    offset = np.array([math.cos(direction), math.sin(direction)]) * separation / 2
    first = _sersic(x, y, centre - offset, rng.uniform(3, 6) * scale, rng.uniform(1, 4), rng.uniform(0.5, 1), 0.5)
    second = _sersic(x, y, centre + offset, rng.uniform(2, 5) * scale, rng.uniform(1, 4), rng.uniform(0.5, 1), 1.2)
    second *= rng.uniform(0.3, 1.0) * first.sum() / second.sum()
    tail = np.zeros_like(x)
    for step in np.linspace(0, 1, 25):  # a curved stream of stars pulled out of the smaller galaxy
        bend = direction + math.pi / 2 + step * rng.uniform(1.0, 1.8)
        point = centre + offset + np.array([math.cos(bend), math.sin(bend)]) * step * separation
        tail += Gaussian2D(1.0, point[0], point[1], 1.6 * scale, 1.6 * scale)(x, y)
    tail *= 0.08 * first.max() / max(tail.max(), 1e-9)
    answers = {"smooth-or-featured": "featured-or-disk", "disk-edge-on": "no", "has-spiral-arms": "no", "bar": "no",
               "bulge-size": "moderate", "merging": "merger"}  # fmt: skip
    return [("bulge", first), ("bulge", second), ("disk", tail)], answers, {"separation_px": round(separation, 1)}


def _irregular(rng, x, y, centre, scale):
    axis_ratio, angle = rng.uniform(0.4, 0.9), rng.uniform(0, math.pi)
    body = _sersic(x, y, centre + rng.uniform(-2, 2, 2), rng.uniform(6, 10) * scale, 0.8, axis_ratio, angle)
    clumps = np.zeros_like(x)
    count = int(rng.integers(5, 12))
    for _ in range(count):
        spot = centre + rng.normal(0, 5 * scale, 2)
        width = rng.uniform(0.8, 1.8) * scale
        clumps += Gaussian2D(rng.uniform(0.3, 1.0), spot[0], spot[1], width, width)(x, y)
    clumps *= 0.8 * body.max() / max(clumps.max(), 1e-9)
    answers = {"smooth-or-featured": "featured-or-disk", "disk-edge-on": "no", "has-spiral-arms": "no", "bar": "no",
               "bulge-size": "none", "merging": "minor-disturbance"}  # fmt: skip
    return [("disk", body * 0.7), ("young", clumps)], answers, {"clumps": count}


_BUILDERS = {"elliptical": _elliptical, "spiral": _spiral, "barred_spiral": _barred_spiral, "edge_on": _edge_on,
             "merger": _merger, "irregular": _irregular}  # fmt: skip


def _votes(rng, truth, magnitude_r):
    """Simulated volunteers walking the tree: each answers the truth with a probability that
    falls with the galaxy's magnitude, else picks another answer; their own answers decide
    which questions they are asked next."""
    accuracy = float(np.clip(0.92 - 0.06 * (magnitude_r - 15.5), 0.6, 0.92))
    votes = {}
    for _ in range(VOLUNTEERS):
        given = {}
        for question in DECALS_TREE:  # parents come before the questions they lead to
            if not is_reached(question, given):
                continue
            correct = truth.get(question.key)
            if correct is not None and rng.random() < accuracy:
                answer = correct
            else:
                answer = question.answers[int(rng.integers(len(question.answers)))]
            given[question.key] = answer
            votes.setdefault(question.key, dict.fromkeys(question.answers, 0))[answer] += 1
    return votes
