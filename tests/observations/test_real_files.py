"""Real instruments' FITS files (tests/data/real/fits, sources in its README) become frames.

Each is refused first, with a reason that says to add a header rule and where; once the
site's rule names its telescope it becomes a frame at the time its header gives.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from observations.ingest import ingest_frame, ingest_many
from observations.models import Frame
from portal.models import HeaderRule, Site, Telescope
from tests.observations.conftest import to_bytes
from tests.observations.test_ingest import stored_files

REAL = Path(__file__).parents[1] / "data" / "real" / "fits"
RULES_PAGE = "/admin/portal/headerrule/add/"


@dataclass
class Real:
    name: str
    refusal: str  # before the rule exists
    rule: dict  # the TELESCOP rule that names its telescope
    start: str  # UTC
    time_source: str
    hdu_index: int
    astrometry: str | tuple  # (ra, dec) of the centre, or what the note says
    exptime_s: float = 0.0
    expstart_mjd: float | None = None  # HST's own MJD of the start, to agree with
    changes: dict = field(default_factory=dict)


CASES = [
    # The Digitized Sky Survey's cutout centred on 14:29:56 −62:41:05, as its name says.
    Real("dss.14.29.56-62.41.05.fits.gz", "TELESCOP 'UK 48-inch Schmidt' matches no telescope",
         {"pattern": "UK 48-inch*"}, "1976-03-11T17:38:00", "DATE-OBS + UT (primary header)", 0,
         (217.4833, -62.6847), exptime_s=70 * 60),
    Real("test0.fits", "no TELESCOP keyword in the image or primary header: which telescope took it?; an admin can "
         "name the telescope from another keyword (it has INSTRUME = 'WFPC2',",
         {"pattern": "WFPC2", "read_from": "INSTRUME"}, "1994-05-19T15:41:16", "DATE-OBS + TIME-OBS (primary header)",
         1, "the WCS is not celestial (CTYPE1 = 'UNITLESS' and CTYPE2 = 'LINE')", exptime_s=0.23,
         expstart_mjd=49491.65366175),
    # ACS/WFC chip 1 (SIP), 2.4′ from its target NGC 104 (RA_TARG 5.655, DEC_TARG −72.071).
    Real("j94f05bgq_flt.fits", "TELESCOP 'HST' matches no telescope", {"pattern": "HST"}, "2005-03-07T06:51:26",
         "DATE-OBS + TIME-OBS (primary header)", 1, (5.5265, -72.0517), exptime_s=400, expstart_mjd=53436.28571938),
    # One CCD (SIP) of the PTF mosaic pointed at 334.29 +3.375 (OBJRAD, OBJDECD).
    Real("header_newlines.fits", "TELESCOP 'P48' matches no telescope", {"pattern": "P48"},
         "2009-06-25T08:41:23.970", "DATE-OBS (primary header)", 0, (333.1133, 3.3550), exptime_s=60),
    Real("fixed-1890.fits", "no TELESCOP keyword in the image or primary header: which telescope took it?; an admin "
         "can name the telescope from another keyword (it has ORIGIN = 'ESO')",
         {"pattern": "irene", "read_from": "ESO DET NAME"}, "2011-09-16T10:33:45.368", "DATE-OBS (primary header)", 0,
         "the WCS is not celestial (CTYPE1 = 'PIXEL' and CTYPE2 = 'PIXEL')", exptime_s=50),
    # HST's STIS writes INHERIT = F in its extensions: the refusal says so, and what to set.
    Real("o4sp040b0_raw.fits", "no TELESCOP keyword in the image or primary header: which telescope took it?; HDU 1 "
         "says INHERIT = F, so the primary header's TELESCOP = 'HST' does not apply to it (set INHERIT = T or "
         "TELESCOP in HDU 1)", {"pattern": "HST"}, "1998-04-20T18:38:15", "DATE-OBS + TIME-OBS (HDU 1 header)", 1,
         "a spectrum: its WCS has a spectral axis (CTYPE1 = 'LAMBDA' and CTYPE2 = 'ANGLE'), not RA and Dec",
         exptime_s=30, expstart_mjd=50923.77657113, changes={"INHERIT": True}),
]  # fmt: skip


def space_telescope(tenant, code):
    site = Site.objects.get(tenant=tenant, code="tfn")
    return Telescope.objects.create(tenant=tenant, site=site, code=code, name=code.upper(), aperture_m=1,
                                    field_of_view_arcmin=10, pixel_scale_arcsec=0.1)  # fmt: skip


def add_rule(tenant, telescope, **rule):
    made = HeaderRule(tenant=tenant, site=telescope.site, keyword="TELESCOP", telescope=telescope, **rule)
    made.full_clean()
    made.save()


def edited(data, changes):
    """The file as its owner would fix it, following the refusal's advice (set a keyword in HDU 1)."""
    with fits.HDUList.fromstring(data) as hdul:
        for key, value in changes.items():
            hdul[1].header[key] = value
        return to_bytes([hdu.copy() for hdu in hdul])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_real_file_is_refused_saying_to_add_a_rule_then_becomes_a_frame_at_its_time(observatory, case):
    tenant, user = observatory
    data = (REAL / case.name).read_bytes()
    before = stored_files()
    refused = ingest_frame(tenant, user, data, case.name)
    assert refused.status == "rejected" and case.refusal in refused.reason, refused.reason
    assert RULES_PAGE in refused.reason
    assert Frame.objects.count() == 0 and stored_files() == before
    add_rule(tenant, space_telescope(tenant, "real"), **case.rule)
    if case.changes:
        assert ingest_frame(tenant, user, data, case.name).status == "rejected", "INHERIT = F is honoured"
        data = edited(data, case.changes)
    result = ingest_frame(tenant, user, data, case.name)
    assert result.status == "created", result.reason
    frame = result.frame
    assert frame.telescope.code == "real" and frame.hdu_index == case.hdu_index
    assert abs((Time(frame.obs_time) - Time(case.start, scale="utc")).sec) < 0.01, frame.obs_time
    assert frame.time_source == case.time_source
    assert frame.exptime_s == pytest.approx(case.exptime_s)
    if case.expstart_mjd:
        assert abs(frame.mjd_obs - case.expstart_mjd) * 86400 < 1, "agrees with the pipeline's own EXPSTART"
    if isinstance(case.astrometry, tuple):
        assert frame.has_astrometry and not frame.astrometry_note
        assert (frame.ra_center_deg, frame.dec_center_deg) == pytest.approx(case.astrometry, abs=1e-3)
    else:
        assert not frame.has_astrometry and frame.astrometry_note == case.astrometry and frame.footprint == []


def test_a_folder_of_real_files_is_refused_file_by_file_each_in_its_own_terms(observatory):
    """As the ingest command and the upload page take them, in one batch: files that share the
    header values a telescope is looked up by (here: no TELESCOP) still each get their own
    keywords quoted."""
    tenant, user = observatory
    files = [(case.name, (REAL / case.name).read_bytes) for case in CASES]
    results = {result.name: result for result in ingest_many(tenant, user, files)}
    for case in CASES:
        assert results[case.name].status == "rejected" and case.refusal in results[case.name].reason, case.name
    assert "ESO" not in results["o4sp040b0_raw.fits"].reason, "the ESO frame's keywords belong to its own refusal"


def real_header(name):
    return fits.Header.fromstring((REAL / name).read_bytes().decode("ascii"))


def cropped(header, x0, y0, size):
    """The header of a size × size crop starting at pixel (x0, y0): what a cutout of the detector
    carries (distortions are relative to CRPIX, so they stay right)."""
    crop = header.copy()
    crop["NAXIS1"] = crop["NAXIS2"] = size
    crop["CRPIX1"] -= x0
    crop["CRPIX2"] -= y0
    return crop


def with_synthetic_pixels(header, **cards):
    """A real header over synthetic pixels (sky noise): the header is what is tested."""
    header = header.copy()
    header.update(cards)
    pixels = np.random.default_rng(5).normal(800, 10, (header["NAXIS2"], header["NAXIS1"])).astype(np.float32)
    return to_bytes([fits.PrimaryHDU(pixels, header)])


def test_a_tpv_distorted_camera_is_placed_by_its_distortion(observatory):
    """PTF's TPV header (its PV terms move this corner of the chip by ~2′ from plain TAN)."""
    tenant, user = observatory
    add_rule(tenant, space_telescope(tenant, "p48"), pattern="P48")
    original = real_header("tpvonly.hdr")
    data = with_synthetic_pixels(cropped(original, 1800, 3800, 200), EXPTIME=60.0)
    frame = ingest_frame(tenant, user, data, "ptf-tpv.fits").frame
    truth = WCS(original).all_pix2world([[1899.5, 3899.5]], 0)[0]
    assert frame.has_astrometry and frame.time_source == "DATE-OBS (primary header)"
    assert (frame.ra_center_deg, frame.dec_center_deg) == pytest.approx(tuple(truth), abs=0.1 / 3600)
    plain_tan = fits.Header([card for card in original.cards if not card.keyword.startswith("PV")])
    plain_tan["CTYPE1"], plain_tan["CTYPE2"] = "RA---TAN", "DEC--TAN"
    untouched = WCS(plain_tan).wcs_pix2world([[1899.5, 3899.5]], 0)[0]
    assert abs(untouched[1] - frame.dec_center_deg) * 3600 > 30, "the distortion moved it"


def test_a_zpn_image_whose_corners_fall_in_the_projections_hole_is_kept_off_the_sky(observatory):
    tenant, user = observatory
    add_rule(tenant, space_telescope(tenant, "zpn"), pattern="zpn")
    data = with_synthetic_pixels(real_header("zpn-hole.hdr"), TELESCOP="zpn", EXPTIME=1.0,
                                 **{"DATE-OBS": "2026-03-14T22:10:00"})  # fmt: skip
    frame = ingest_frame(tenant, user, data, "zpn.fits").frame
    assert not frame.has_astrometry and "off the sky" in frame.astrometry_note
    assert frame.target_links.count() == 0
