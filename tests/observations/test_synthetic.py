"""The synthetic frames show each defect the way it spoils a real frame, and label it."""

import numpy as np
import pytest

from observations.photometry import measure
from observations.synthetic import make_frame
from tests.observations.conftest import M51


def frame(*defects, **kwargs):
    options = dict(ra_deg=M51[0], dec_deg=M51[1], n_stars=0, seed=7, extra_sources=[(*M51, 8000)], defects=defects)
    return make_frame(**{**options, **kwargs})


def test_clean_frame_is_labelled_and_has_flat_sky():
    hdu = frame()
    assert hdu.header["SIMDEFCT"] == "none"
    left, right = np.median(hdu.data[:, :40]), np.median(hdu.data[:, -40:])
    assert abs(left - 800) < 10 and abs(right - left) < 10


def test_clouds_dim_the_stars_and_tilt_the_sky():
    clean, cloudy = frame(), frame("clouds")
    assert cloudy.header["SIMDEFCT"] == "clouds"
    assert np.median(cloudy.data[:, -40:]) - np.median(cloudy.data[:, :40]) > 200
    assert cloudy.data.max() - np.median(cloudy.data) < 0.6 * (clean.data.max() - np.median(clean.data))


def test_defocus_turns_stars_into_rings():
    focused, donut = frame(), frame("defocus")
    centre = (128, 128)
    assert donut.data[centre] < 0.3 * focused.data[centre]
    assert donut.data.sum() == pytest.approx(focused.data.sum(), rel=0.02), "the light is spread, not lost"


def test_satellite_leaves_a_trail_across_the_frame():
    bright = frame("satellite").data > 800 + 1500
    assert bright.sum() > 200 and np.count_nonzero(bright.any(axis=0)) + np.count_nonzero(bright.any(axis=1)) > 256


def test_cosmic_rays_are_sharp_hits():
    data = frame("cosmic_rays", extra_sources=[]).data
    hits = data > 800 + 2000
    assert hits.sum() >= 5
    ys, xs = np.nonzero(hits)
    assert all(
        data[y, x] - np.median(data[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]) > 2000 for y, x in zip(ys, xs)
    )


def test_unknown_defect_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown defects \\['fog'\\]"):
        frame("fog")


def test_a_stars_quoted_flux_error_is_the_scatter_of_its_flux_from_night_to_night():
    """The noise is drawn through the gain the header states, so photometry's error bars, which
    read that GAIN, are as wide as the flux really scatters (drawn at gain 1, a bright star
    scattered 1.21× its error bar)."""
    fluxes, errors = [], []
    for seed in range(240):
        hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], width=48, height=48, n_stars=0, seed=seed,
                         extra_sources=[(*M51, 100_000)])  # fmt: skip
        y, x = np.unravel_index(np.argmax(hdu.data), hdu.data.shape)
        measured = measure(hdu.data, float(x), float(y), pixel_scale_arcsec=0.389, exptime_s=120.0,
                           gain=hdu.header["GAIN"], zero_point_mag=None)  # fmt: skip
        fluxes.append(measured["flux_adu"])
        errors.append(measured["flux_err_adu"])
    assert np.std(fluxes, ddof=1) / np.median(errors) == pytest.approx(1.0, abs=0.1)
