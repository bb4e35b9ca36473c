"""Image fusion (observations.fusion): frames of one field from three sites, of different depth,
seeing, pixel scale and zero point, with a faint source of known brightness."""

import io
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from observations.fusion import FrameInput, FusionRefused, aperture_snr, fuse, grid_for, to_fits
from observations.synthetic import GAIN, make_frame, sky_field

RA, DEC = 150.0, 20.0
SOURCE_MAG = 20.0
SOURCE_FLUX = 10 ** (-0.4 * (SOURCE_MAG - 25))  # the fused image's unit: flux a second at zero point 25
# site, pixel scale ″, seeing ″, zero point, sky ADU, exposure s
SITES = [("tfn", 0.389, 1.4, 25.0, 800, 120), ("elp", 0.389, 2.2, 24.7, 1200, 120), ("coj", 0.304, 1.8, 26.3, 1500, 60)]
STARS = sky_field(RA, DEC, radius_arcsec=90, count=25, seed=7, magnitudes=(15, 19.5))
MAX_PIXELS = 4096**2


def frame(number, *, band="r", defects=(), ra=RA, dec=DEC, with_wcs=True, zero_point=True, veto=""):
    site, scale, seeing, zp, sky, exptime = SITES[number % 3]
    hdu = make_frame(ra_deg=ra + 0.003 * (number % 4 - 1.5), dec_deg=dec - 0.002 * (number % 3 - 1), site=site,
                     pixel_scale_arcsec=scale, seeing_fwhm_arcsec=seeing, zero_point=zp, sky_adu=sky,
                     exptime_s=exptime, n_stars=0, seed=100 + number, stars=[*STARS, (RA, DEC, SOURCE_MAG)],
                     defects=defects)  # fmt: skip
    return FrameInput(id=number + 1, label=site, band=band, data=hdu.data, wcs=WCS(hdu.header) if with_wcs else None,
                      exptime_s=exptime, zero_point=zp if zero_point else None, gain=GAIN, veto=veto)  # fmt: skip


@pytest.fixture(scope="module")
def nine_frames():
    return [frame(number) for number in range(9)]


@pytest.fixture(scope="module")
def grid():
    return grid_for(RA, DEC, size_arcsec=60, pixel_scale_arcsec=0.3, max_pixels=MAX_PIXELS)


def test_the_fused_image_is_as_deep_as_its_frames_allow_and_keeps_the_flux(nine_frames, grid):
    fusion = fuse(nine_frames, band="r", grid=grid, aperture=(RA, DEC, 3.0))
    flux, snr = aperture_snr(fusion.science, fusion.uncertainty, RA, DEC, grid.wcs, 3.0)
    singles = [each["snr"] for each in fusion.used]
    alone = fuse(nine_frames[:1], band="r", grid=grid)
    assert aperture_snr(alone.science, alone.uncertainty, RA, DEC, grid.wcs, 3.0)[1] == pytest.approx(singles[0])

    assert snr >= 0.95 * math.sqrt(sum(each**2 for each in singles))  # inverse-variance weights are optimal
    assert snr >= 2 * max(singles)
    # A 3″ aperture holds 99.4% of a 2.2″ star; the fused SNR of ~90 makes 1σ about 1.1%.
    assert flux == pytest.approx(SOURCE_FLUX, rel=0.035)
    assert [each["id"] for each in fusion.used] == list(range(1, 10)) and fusion.rejected == []
    shares = {site: sum(each["weight_share"] for each in fusion.used if each["label"] == site) for site, *_ in SITES}
    assert shares["tfn"] > shares["coj"] > shares["elp"]  # the darkest sky and best zero point weigh most


def test_exact_resampling_agrees_with_interpolation(nine_frames, grid):
    interpolated = fuse(nine_frames[:3], band="r", grid=grid)
    exact = fuse(nine_frames[:3], band="r", grid=grid, method="exact")
    flux_interp, _ = aperture_snr(interpolated.science, interpolated.uncertainty, RA, DEC, grid.wcs, 4.0)
    flux_exact, _ = aperture_snr(exact.science, exact.uncertainty, RA, DEC, grid.wcs, 4.0)
    assert flux_exact == pytest.approx(flux_interp, rel=0.02)


def test_a_satellite_trail_in_one_frame_is_rejected_not_fused(nine_frames, grid):
    trailed = frame(4, defects=("satellite",))
    clean = fuse([*nine_frames[:4], *nine_frames[5:]], band="r", grid=grid)
    fused = fuse([*nine_frames[:4], trailed, *nine_frames[5:]], band="r", grid=grid)
    with_trail = fuse([*nine_frames[:4], trailed, *nine_frames[5:]], band="r", grid=grid, clip_sigma=math.inf)

    # On the sky the trail is gone. Where it crosses a star, the tolerance for the sites' different
    # seeing lets part of it through, as in SWarp.
    sky = np.abs(clean.science) < 5 * clean.uncertainty
    trail_left = ((with_trail.science - clean.science) / clean.uncertainty)[sky] > 5
    left_after_clipping = ((fused.science - clean.science) / clean.uncertainty)[sky] > 5
    assert trail_left.sum() > 500
    assert left_after_clipping.sum() <= 0.01 * trail_left.sum()
    clipped = {each["id"]: each["clipped_pixels"] for each in fused.used}
    assert clipped[5] > 10 * max(count for number, count in clipped.items() if number != 5)


def test_frames_that_cannot_be_fused_are_left_out_with_the_reason(nine_frames, grid):
    odd_ones = [
        FrameInput(**{**vars(frame(9, band="g")), "id": 20}),
        FrameInput(**{**vars(frame(10, with_wcs=False)), "id": 21}),
        FrameInput(**{**vars(frame(11, ra=RA + 1)), "id": 22}),
        FrameInput(**{**vars(frame(12, zero_point=False)), "id": 23}),
        FrameInput(**{**vars(frame(13, veto="flagged clouds by the frame-quality model")), "id": 24}),
    ]
    fusion = fuse([*nine_frames[:3], *odd_ones], band="r", grid=grid)

    assert [each["id"] for each in fusion.used] == [1, 2, 3]
    reasons = {each["id"]: each["reason"] for each in fusion.rejected}
    assert reasons == {
        20: "band g, not r",
        21: "no astrometry (no celestial WCS)",
        22: "does not overlap the fused field",
        23: "no zero point (none in its header, none for its filter at its site)",
        24: "flagged clouds by the frame-quality model",
    }


def test_a_fusion_with_no_usable_frame_is_refused_with_every_reason(grid):
    with pytest.raises(FusionRefused) as refused:
        fuse([frame(0, band="g"), frame(1, with_wcs=False)], band="r", grid=grid)
    assert "No frame can be fused in r" in str(refused.value)
    assert "tfn #1: band g, not r" in str(refused.value) and "elp #2: no astrometry" in str(refused.value)


def test_an_output_too_large_for_memory_is_refused_before_it_starts(nine_frames):
    with pytest.raises(FusionRefused, match="20000 × 20000 pixels; the most a fusion makes is 16,777,216"):
        grid_for(RA, DEC, size_arcsec=6000, pixel_scale_arcsec=0.3, max_pixels=MAX_PIXELS)
    wide = grid_for(RA, DEC, size_arcsec=900, pixel_scale_arcsec=0.3, max_pixels=MAX_PIXELS)
    with pytest.raises(FusionRefused, match="9 frames on a 3000 × 3000 grid need about 1.8 GiB"):
        fuse(nine_frames, band="r", grid=wide, max_bytes=2**30)
    with pytest.raises(FusionRefused, match="not a sky position"):
        grid_for(400, DEC, size_arcsec=60, pixel_scale_arcsec=0.3, max_pixels=MAX_PIXELS)


def test_the_fits_file_holds_science_weight_and_uncertainty_and_is_the_same_for_the_same_frames(nine_frames, grid):
    def written():
        buffer = io.BytesIO()
        to_fits(fuse(nine_frames[:4], band="r", grid=grid), title="field").writeto(buffer)
        return buffer.getvalue()

    first = written()
    assert written() == first
    with fits.open(io.BytesIO(first)) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "WHT", "ERR"]
        assert hdul[0].header["NFRAMES"] == 4 and hdul[0].header["FILTER"] == "r"
        assert hdul[0].header["FRM00001"] == 1 and hdul[0].header["MAGZP"] == 25.0
        science_wcs = WCS(hdul["SCI"].header)
        x, y = science_wcs.world_to_pixel_values(RA, DEC)
        assert abs(x - (grid.shape[1] - 1) / 2) < 0.01 and abs(y - (grid.shape[0] - 1) / 2) < 0.01
        assert hdul["SCI"].data.shape == hdul["ERR"].data.shape == grid.shape
        assert np.all(hdul["WHT"].data >= 0)
