"""Cross-site calibration (observations.calibration): frames of one field from three sites whose
true zero points differ, tied to one scale by the stars they share."""

from dataclasses import replace

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from observations.calibration import (
    DEFAULT_SATURATION_ADU,
    CalibrationRefused,
    calibrate,
    measure_stars,
    saturation_level,
)
from observations.synthetic import GAIN, make_frame, sky_field
from tests.observations.test_fusion import DEC, RA, SITES
from tests.observations.test_real_files import REAL

STARS = sky_field(RA, DEC, radius_arcsec=40, count=30, seed=11, magnitudes=(14.5, 18.5))


def measured(number, *, variable=None, stars=STARS):
    site, scale, seeing, zero_point, sky, exptime = SITES[number % 3]
    brighter, by = variable or (None, 0)
    field = [(ra, dec, mag - (by if index == brighter else 0)) for index, (ra, dec, mag) in enumerate(stars)]
    hdu = make_frame(ra_deg=RA + 0.002 * (number % 4 - 1.5), dec_deg=DEC, site=site, pixel_scale_arcsec=scale,
                     seeing_fwhm_arcsec=seeing, zero_point=zero_point, sky_adu=sky, exptime_s=exptime, n_stars=0,
                     seed=300 + number, stars=field)  # fmt: skip
    return measure_stars(number + 1, site, hdu.data, WCS(hdu.header), exptime, gain=GAIN)


@pytest.fixture(scope="module")
def six_frames():
    return [measured(number) for number in range(6)]


def test_each_site_s_zero_point_is_recovered_from_the_stars_it_shares(six_frames):
    anchors = {frame.id: 25.0 for frame in six_frames if frame.label == "tfn"}  # Teide's calibration is trusted
    calibration = calibrate(six_frames, anchors)

    truth = {site: zero_point for site, _, _, zero_point, *_ in SITES}
    for frame in six_frames:
        assert calibration.zero_points[frame.id] == pytest.approx(truth[frame.label], abs=0.01), frame.label
        assert 0 < calibration.errors[frame.id] < 0.01
        assert calibration.stars_used[frame.id] >= 5
    assert calibration.star_count >= 8


def test_a_variable_star_does_not_move_the_zero_points(six_frames):
    measured_star = SkyCoord(six_frames[5].ra_deg[0] * u.deg, six_frames[5].dec_deg[0] * u.deg)
    index = int(
        measured_star.match_to_catalog_sky(SkyCoord([s[0] for s in STARS], [s[1] for s in STARS], unit=u.deg))[0]
    )
    brightened = [measured(5, variable=(index, 1.0))]  # one star a magnitude brighter in this frame only
    calibration = calibrate([*six_frames[:5], *brightened], {frame.id: 25.0 for frame in six_frames[:5:3]})
    assert calibration.zero_points[6] == pytest.approx(SITES[5 % 3][3], abs=0.01)
    assert calibration.stars_used[6] < calibrate(six_frames, {1: 25.0, 4: 25.0}).stars_used[6]


def test_calibration_without_an_anchor_or_shared_stars_is_refused(six_frames):
    with pytest.raises(CalibrationRefused, match="No frame to anchor"):
        calibrate(six_frames, {})
    elsewhere = measured(0, stars=sky_field(RA, DEC + 0.5, radius_arcsec=40, count=30, seed=12))
    with pytest.raises(CalibrationRefused, match="share no star"):
        calibrate([six_frames[0], elsewhere], {1: 25.0})
    assert np.all(np.isfinite(six_frames[0].instrumental))


def test_a_real_plate_s_stars_are_found_on_the_sky_and_tie_two_exposures_of_it():
    """The Digitized Sky Survey cutout (tests/data/real/fits): a rotated, skewed plate solution.
    The same plate claimed as half the exposure reads twice the light a second: its zero point
    must come out 2.5 log10 2 mag higher."""
    with fits.open(REAL / "dss.14.29.56-62.41.05.fits.gz") as hdul:
        data, wcs = hdul[0].data.astype(float), WCS(hdul[0].header)
    full, half = (measure_stars(number, "dss", data, wcs, seconds) for number, seconds in ((1, 4200.0), (2, 2100.0)))
    assert len(full.ra_deg) >= 10
    centre = wcs.pixel_to_world(49.5, 49.5)
    assert np.all(SkyCoord(full.ra_deg, full.dec_deg, unit=u.deg).separation(centre).arcsec < 100)  # on the plate
    fitted = calibrate([full, half], {1: 21.0})
    assert fitted.zero_points[2] == pytest.approx(21.0 + 2.5 * np.log10(2), abs=1e-6)


def test_frames_of_one_night_share_a_zero_point_and_stars_seen_within_one_night_tie_nothing(six_frames):
    nights = {frame.id: frame.label for frame in six_frames}  # each site's two frames: one night
    calibration = calibrate(six_frames, {frame.id: 25.0 for frame in six_frames if frame.label == "tfn"}, nights)
    by_site = {}
    for frame in six_frames:
        by_site.setdefault(frame.label, set()).add(calibration.zero_points[frame.id])
    truth = {site: zero_point for site, _, _, zero_point, *_ in SITES}
    assert all(len(values) == 1 for values in by_site.values())  # one zero point a night
    assert all(values.pop() == pytest.approx(truth[site], abs=0.01) for site, values in by_site.items())
    with pytest.raises(CalibrationRefused, match="no star with another night or site"):
        calibrate(six_frames[:4:3], {1: 25.0}, {1: "tfn", 4: "tfn"})  # Teide's two frames alone


def test_saturated_stars_are_left_out_at_the_level_the_header_or_the_image_s_flat_top_gives():
    with fits.open(REAL / "dss.14.29.56-62.41.05.fits.gz") as hdul:
        data, header, wcs = hdul[0].data.astype(float), hdul[0].header, WCS(hdul[0].header)
    # The plate says nothing; its brightest stars share a flat top near 20,136 (a plate's shoulder).
    assert "SATURATE" not in header and saturation_level(header, data) == pytest.approx(0.8 * data.max())
    everything = measure_stars(1, "dss", data, wcs, 4200.0, saturation_adu=1e9)
    unsaturated = measure_stars(1, "dss", data, wcs, 4200.0)
    assert 10 <= len(unsaturated.ra_deg) < len(everything.ra_deg)
    assert saturation_level(fits.Header([("SATURATE", 4095)]), data) == 4095  # the header's own, first
    smooth = make_frame(ra_deg=RA, dec_deg=DEC, n_stars=5, seed=3).data  # no flat top, no keyword
    assert saturation_level(fits.Header(), smooth) == DEFAULT_SATURATION_ADU


COLOURS = np.random.default_rng(4).uniform(-0.2, 1.6, len(STARS))  # each star's g − r
TERMS = {"tfn": 0.05, "elp": -0.08, "coj": 0.03}  # how much redder stars read at each site, per mag of colour


def through_each_site_s_passband(number):
    """Frame ``number`` of STARS as its site's filter sees them, with each measured star's colour."""
    site = SITES[number % 3][0]
    field = [(ra, dec, mag + TERMS[site] * (colour - 0.7)) for (ra, dec, mag), colour in zip(STARS, COLOURS)]
    stars = measured(number, stars=field)
    known = SkyCoord([s[0] for s in STARS], [s[1] for s in STARS], unit=u.deg)
    nearest, _, _ = SkyCoord(stars.ra_deg, stars.dec_deg, unit=u.deg).match_to_catalog_sky(known)
    return replace(stars, colour=COLOURS[nearest])


def test_each_site_s_colour_term_is_fitted_where_the_stars_colours_allow():
    frames = [through_each_site_s_passband(number) for number in range(6)]
    sites = {frame.id: frame.label for frame in frames}
    fitted = calibrate(frames, {frame.id: 25.0 for frame in frames if frame.label == "tfn"}, sites, sites)
    terms = {site: term for site, (term, _) in fitted.colour_terms.items()}
    assert terms["elp"] - terms["tfn"] == pytest.approx(TERMS["elp"] - TERMS["tfn"], abs=0.01)
    assert terms["coj"] - terms["tfn"] == pytest.approx(TERMS["coj"] - TERMS["tfn"], abs=0.01)
    assert all(0 < error < 0.01 for _, error in fitted.colour_terms.values())
    # Without the colours, the sites' passbands pass for noise: the same stars fit worse.
    plain = calibrate([replace(frame, colour=None) for frame in frames], {1: 25.0, 4: 25.0}, sites)
    assert not plain.colour_terms
    assert max(plain.errors.values()) > 1.5 * max(fitted.errors.values())
    # Stars all of one colour cannot tell a site's passband from its zero point: no term.
    grey = calibrate([replace(frame, colour=np.full(len(frame.ra_deg), 0.7)) for frame in frames], {1: 25.0},
                     sites, sites)  # fmt: skip
    assert not grey.colour_terms
