"""Photometry and cutouts made at ingest, and the light curve an astronomer reads."""

import io
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from observations.ingest import ingest_frame
from observations.models import Photometry, Target
from observations.synthetic import make_frame
from portal.tenancy import tenant_context
from tests.observations.conftest import M51, to_bytes

FWHM, SCALE = 1.6, 0.389


def expected_flux(peak):
    sigma = FWHM / SCALE / 2.3548
    return 2 * math.pi * sigma**2 * peak


def ingest(tenant, user, seed, peak, **kwargs):
    hdu = make_frame(ra_deg=M51[0] + 0.003, dec_deg=M51[1], n_stars=0, seed=seed, extra_sources=[(*M51, peak)],
                     seeing_fwhm_arcsec=FWHM, pixel_scale_arcsec=SCALE, **kwargs)  # fmt: skip
    result = ingest_frame(tenant, user, to_bytes([hdu]), f"p{seed}.fits")
    assert result.status == "created", result.reason
    return result.frame


def test_flux_and_calibrated_magnitude_of_a_known_source(observatory):
    tenant, user = observatory
    frame = ingest(tenant, user, 1, 5000, zero_point=25.0, exptime_s=60)
    point = Photometry.objects.get(link__frame=frame)
    assert point.flux_adu == pytest.approx(expected_flux(5000), rel=0.02)
    assert point.mag == pytest.approx(25.0 - 2.5 * math.log10(expected_flux(5000) / 60), abs=0.02)
    assert 0 < point.mag_err < 0.01 and point.zero_point == 25.0
    assert point.mjd == pytest.approx(frame.mjd_obs + 30 / 86400)


def test_fainter_source_has_larger_error_and_no_zero_point_gives_instrumental_magnitude(observatory):
    tenant, user = observatory
    bright = Photometry.objects.get(link__frame=ingest(tenant, user, 2, 8000))
    faint = Photometry.objects.get(link__frame=ingest(tenant, user, 3, 200))
    assert faint.mag_err > 5 * bright.mag_err
    assert bright.zero_point is None and bright.mag == pytest.approx(-2.5 * math.log10(bright.flux_adu / 120))


def test_site_calibration_is_used_when_the_header_has_no_zero_point(observatory):
    tenant, user = observatory
    from portal.models import Filter

    Filter.objects.filter(tenant=tenant, name="r").update(zero_point_mag=24.2)
    point = Photometry.objects.get(link__frame=ingest(tenant, user, 4, 5000))
    assert point.zero_point == 24.2


def test_cutout_is_a_small_fits_centred_on_the_target(observatory):
    tenant, user = observatory
    frame = ingest(tenant, user, 5, 5000)
    link = frame.target_links.get()
    with link.cutout.open("rb") as stored:
        hdu = fits.open(io.BytesIO(stored.read()))[0]
    assert hdu.data.shape == (83, 83) and hdu.header["FILTER"] == "r"
    x, y = WCS(hdu.header).world_to_pixel_values(*M51)
    assert x == pytest.approx(41, abs=0.6) and y == pytest.approx(41, abs=0.6)
    peak_y, peak_x = np.unravel_index(np.argmax(hdu.data), hdu.data.shape)
    assert abs(peak_x - 41) <= 1 and abs(peak_y - 41) <= 1, "the source is at the cutout's centre"


def test_target_page_shows_light_curve_and_cutouts(client, observatory):
    tenant, user = observatory
    for seed, peak in enumerate([3000, 6000, 4000], start=10):
        ingest(tenant, user, seed, peak, zero_point=25.0, obs_time=f"2026-03-{seed:02d}T22:00:00")
    client.force_login(user)
    with tenant_context(tenant):
        m51 = Target.objects.get(name="M51")
    page = client.get(f"/t/{tenant.slug}/targets/{m51.pk}/")
    assert 'id="light-curve"' in page.text and "3 measurements" in page.text
    mags = [p.mag for p in page.context["photometry"]]
    assert mags[1] < mags[2] < mags[0], "the brightest frame has the smallest magnitude"
    link = page.context["cutouts"][0]
    png = client.get(f"/t/{tenant.slug}/cutouts/{link.pk}/png/")
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    cutout = client.get(f"/t/{tenant.slug}/cutouts/{link.pk}/fits/")
    assert b"".join(cutout.streaming_content)[:6] == b"SIMPLE"
