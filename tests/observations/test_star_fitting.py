"""Stars a repair's mask reaches are fitted with the frame's own profile: their masked pixels come
back nearer the truth than any pixel's own measurement under a trail, whatever the profile's shape
(a Gaussian, an elliptical Moffat with wings); a saturated star is left alone, and so is every
star of a frame whose profile the fit cannot describe (a real undersampled space telescope's)."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling.models import Sersic2D

from observations.defect_masks import flagged_mask, sky_and_noise, under_trails
from observations.star_fitting import MAX_PROFILE_ERROR, _Moffat, fitted_stars
from observations.synthetic import make_frame
from tests.observations.test_real_files import REAL


@pytest.mark.parametrize("seed, seeing", [(0, 1.2), (2, 1.6), (4, 2.0)])
def test_stars_under_a_trail_come_back_nearer_the_truth_than_their_own_pixels_say(seed, seeing):
    field = {"ra_deg": 10, "dec_deg": 20, "width": 256, "height": 256, "seed": 1000 + seed, "n_stars": 80,
             "seeing_fwhm_arcsec": seeing}  # fmt: skip
    spoilt = make_frame(**field, defects=("satellite",)).data
    truth = make_frame(**field, noise=False).data
    sky, noise = sky_and_noise(make_frame(**field).data)
    mask, _, hidden = flagged_mask(spoilt, ["satellite"])
    beneath = under_trails(spoilt, mask, hidden)
    stars = fitted_stars(spoilt, mask, beneath=beneath)

    assert stars.count >= 8 and stars.fwhm_px == pytest.approx(seeing / 0.389, rel=0.1)
    light = truth - sky
    starlit = mask & (light > 3 * noise)
    assert stars.footprint[starlit].mean() > 0.6, "most of the stars' masked pixels are given by their profile"
    repaired = np.where(stars.footprint, stars.estimate, beneath[0])  # the rest keep what the trail left
    fitted, measured = (_within_10_percent(values, truth, light, starlit) for values in (repaired, beneath[0]))
    assert fitted >= 0.8 and fitted > measured + 0.1, f"{fitted:.0%} within 10% of the truth, the pixels {measured:.0%}"
    assert not stars.footprint[~mask].any() and np.isnan(stars.estimate[~mask]).all()


def _within_10_percent(values, truth, light, pixels):
    """The share of ``pixels`` whose ``values`` are within 10% of their true ``light`` of the ``truth``."""
    return np.mean(np.abs(values - truth)[pixels] <= 0.1 * light[pixels])


def _moffat_field(rng, fwhm, ellipticity, angle, beta, stars, on_band):
    """(image, noiseless, background): 200 px square, ``stars`` of an elliptical, pixel-integrated
    Moffat profile at random and as many again across rows 96–100 (``on_band``: x positions), on a
    sloping sky, with photon and read noise: not what the portal's own frames are made of."""
    profile = _Moffat.from_fwhm(fwhm, fwhm * (1 - ellipticity), angle, 1 / beta)
    rows, columns = np.mgrid[0:200, 0:200]
    background = 300 + 0.05 * columns + 0.03 * rows
    truth = background.copy()
    positions = [*rng.uniform(10, 190, size=(stars, 2)), *((x, rng.uniform(96, 100)) for x in on_band)]
    for (x, y), flux in zip(positions, 10 ** rng.uniform(3.5, 5.0, len(positions))):
        truth += flux * profile(columns - x, rows - y)
    image = rng.poisson(truth * 2.0) / 2.0 + rng.normal(0, 4, truth.shape)
    return image.astype(np.float32), truth, background


def test_a_profile_unlike_the_portals_own_is_measured_and_fills_a_drawn_band_across_stars():
    rng = np.random.default_rng(3)
    image, truth, background = _moffat_field(rng, fwhm=4.5, ellipticity=0.3, angle=0.6, beta=2.8, stars=50,
                                             on_band=(30, 75, 120, 170))  # fmt: skip
    mask = np.zeros(image.shape, dtype=bool)
    mask[96:101] = True  # a drawn band: nothing under it is known
    stars = fitted_stars(image, mask)

    assert stars.fwhm_px == pytest.approx(4.5 * np.sqrt(0.7), rel=0.1)
    _, noise = sky_and_noise(image)
    light = truth - background
    starlit = mask & (light > 10 * noise)
    assert starlit.sum() > 20 and stars.footprint[starlit].mean() > 0.9
    errors = np.abs(stars.estimate - truth)[starlit] / light[starlit]
    assert np.median(errors) < 0.1, f"stars under a drawn band are {np.median(errors):.0%} off"


def test_a_saturated_star_is_left_to_the_network_and_its_neighbours_are_fitted():
    rng = np.random.default_rng(5)
    image, _, _ = _moffat_field(rng, fwhm=4.0, ellipticity=0.1, angle=0.0, beta=3.0, stars=30, on_band=(20, 100))
    rows, columns = np.mgrid[0:200, 0:200]
    image = image + (2e6 * _Moffat.from_fwhm(4.0, 3.6, 0.0, 1 / 3.0)(columns - 140, rows - 101)).astype(np.float32)
    saturated = image > 20000
    image[saturated] = 20000
    mask = np.zeros(image.shape, dtype=bool)
    mask[98:103] = True
    stars = fitted_stars(image, mask, unusable=saturated)

    assert saturated[98:103, 130:150].any()
    assert not stars.footprint[98:103, 125:155].any(), "a saturated star's profile is not known"
    assert stars.footprint[96:101, 10:30].any() and stars.footprint[96:101, 90:110].any(), "the stars are fitted"


@pytest.mark.parametrize("effective_radius, sersic_n, flux", [(4, 4, 3e5), (6, 1, 3e5), (3, 2, 1e5)])
def test_a_galaxy_under_a_trail_is_not_taken_for_stars_and_keeps_what_its_pixels_say(effective_radius, sersic_n,
                                                                                     flux):  # fmt: skip
    rng = np.random.default_rng(11)
    image, truth, background = _moffat_field(rng, fwhm=4.0, ellipticity=0.1, angle=0.3, beta=3.0, stars=40,
                                             on_band=(30, 160))  # fmt: skip
    rows, columns = np.mgrid[0:200, 0:200]
    galaxy = Sersic2D(1.0, effective_radius, sersic_n, 100, 98, 0.5, 0.7)(columns, rows)
    galaxy *= flux / galaxy.sum()
    truth = truth + galaxy
    _, noise = sky_and_noise(image)
    mask = np.zeros(image.shape, dtype=bool)
    mask[96:101] = True  # a trail across the galaxy's core: its pixels measured through twice the sky's noise
    spoilt = image + rng.poisson(galaxy * 2.0) / 2.0 + np.where(mask, rng.normal(0, 2 * noise, image.shape), 0)
    beneath = (np.where(mask, spoilt, np.nan), np.where(mask, np.sqrt(5) * noise, np.nan))
    stars = fitted_stars(spoilt.astype(np.float32), mask, beneath=beneath)

    assert stars.count >= 2, "the stars along the trail are fitted"
    light = truth - background
    galaxy_pixels = mask & (galaxy > 3 * noise)
    assert stars.footprint[galaxy_pixels].mean() < 0.1, "a galaxy's core is no star's"
    repaired = np.where(stars.footprint, stars.estimate, beneath[0])
    within, measured = (_within_10_percent(values, truth, light, galaxy_pixels) for values in (repaired, beneath[0]))
    assert within >= measured - 0.02, f"{within:.0%} within 10%, its pixels alone {measured:.0%}"


def test_nothing_is_fitted_where_there_are_no_stars():
    rng = np.random.default_rng(0)
    image = rng.normal(500, 10, (128, 128)).astype(np.float32)
    mask = np.zeros(image.shape, dtype=bool)
    mask[60:64] = True
    stars = fitted_stars(image, mask)
    assert stars.count == 0 and not stars.footprint.any() and not stars.light.any()


def test_a_real_undersampled_space_telescope_frame_has_its_profile_measured_and_its_pixels_kept():
    """A Spitzer IRAC 4.5 µm mosaic (GLIMPSE, 1.2″ pixels): stars barely sampled, a profile with
    rings and a mosaic's resampling, on nebulous sky. A Moffat misses its bright stars by more
    than a trail's noise spoils their pixels, so none is fitted and what the trail left is kept."""
    with fits.open(REAL / "glimpse-irac2-crop.fits.gz") as hdus:
        data, header = hdus[0].data.astype(np.float32), hdus[0].header
    sky, noise = sky_and_noise(data)
    rows, columns = np.mgrid[0 : data.shape[0], 0 : data.shape[1]]
    across = (columns - 80) * np.sin(1.0) - (rows - 80) * np.cos(1.0)
    trail = 20 * noise * np.exp(-(across**2) / 2 / 1.2**2)
    spoilt = data + trail + np.random.default_rng(0).normal(0, 1, data.shape) * np.sqrt(trail * noise**2 / sky)
    mask, _, hidden = flagged_mask(spoilt.astype(np.float32), ["satellite"])
    stars = fitted_stars(spoilt, mask, beneath=under_trails(spoilt, mask, hidden))

    # IRAC's 4.5 µm point-spread function is 1.72″ wide (IRAC Instrument Handbook), a little more once mosaicked
    assert 1.6 <= stars.fwhm_px * abs(header["CD1_1"]) * 3600 <= 2.3
    assert stars.misfit > MAX_PROFILE_ERROR and stars.count == 0 and not stars.footprint.any()
