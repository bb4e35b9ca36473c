"""Synthetic FITS frames that look like the array's: a TAN WCS, stars with a Gaussian PSF,
sky background and noise, written with the header keywords real sites write.

Used for the demo data and the tests; deterministic for a given seed.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

DEFECTS = ("clouds", "defocus", "satellite", "cosmic_rays")
GAIN = 1.6  # electrons per ADU: the GAIN keyword, and what the photon noise is drawn through
READ_NOISE_ADU = 5.0


def frame_wcs(ra_deg, dec_deg, width, height, pixel_scale_arcsec):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(width + 1) / 2, (height + 1) / 2]
    wcs.wcs.cdelt = [-pixel_scale_arcsec / 3600, pixel_scale_arcsec / 3600]
    return wcs


def sky_field(ra_deg, dec_deg, *, radius_arcsec, count, seed, magnitudes=(14.0, 20.0)):
    """``count`` stars (ra, dec, magnitude) scattered within ``radius_arcsec`` of a position, the
    same for every site that observes it; magnitudes uniform in ``magnitudes``."""
    rng = np.random.default_rng(seed)
    radius = radius_arcsec / 3600 * np.sqrt(rng.uniform(0, 1, count))
    angle = rng.uniform(0, 2 * np.pi, count)
    dec = dec_deg + radius * np.sin(angle)
    ra = (ra_deg + radius * np.cos(angle) / np.cos(np.radians(dec_deg))) % 360
    return [(float(a), float(d), float(m)) for a, d, m in zip(ra, dec, rng.uniform(*magnitudes, count))]


def make_frame(
    *,
    ra_deg,
    dec_deg,
    telescope="1m0a",
    instrument="sinistro",
    site="tfn",
    filter_name="r",
    obs_time="2026-03-14T22:10:00",
    exptime_s=120.0,
    width=256,
    height=256,
    pixel_scale_arcsec=0.389,
    n_stars=40,
    seeing_fwhm_arcsec=1.6,
    sky_adu=800.0,
    seed=0,
    extra_sources=(),
    stars=(),
    airmass=1.2,
    with_wcs=True,
    zero_point=None,
    defects=(),
    noise=True,
):
    """A PrimaryHDU with stars and sky; ``extra_sources`` are (ra, dec, peak ADU) to place exactly,
    ``stars`` (ra, dec, magnitude) through the frame's ``zero_point``, exposure and seeing, so that
    frames of one field from several sites show the same sky (``sky_field``).

    ``defects`` adds what spoils real frames — "clouds" (light lost and a sky gradient),
    "defocus" (donut images), "satellite" (a bright trail) and "cosmic_rays" (sharp hits) —
    and lists them in the SIMDEFCT keyword, the label the frame-quality model learns from.
    Without ``noise`` the frame is what the noisy one scatters about: the truth a repair is judged by.
    """
    unknown = set(defects) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects {sorted(unknown)}; choose from {', '.join(DEFECTS)}")
    if stars and zero_point is None:
        raise ValueError("stars given by magnitude need the frame's zero_point")
    rng = np.random.default_rng(seed)
    wcs = frame_wcs(ra_deg, dec_deg, width, height, pixel_scale_arcsec)
    y, x = np.mgrid[0:height, 0:width]
    image = np.full((height, width), sky_adu, dtype=np.float64)
    sigma = seeing_fwhm_arcsec / pixel_scale_arcsec / 2.3548
    transparency = rng.uniform(0.2, 0.5) if "clouds" in defects else 1.0
    sources = [(rng.uniform(0, width), rng.uniform(0, height), 10 ** rng.uniform(2.3, 4.3)) for _ in range(n_stars)]
    # A Gaussian image's peak is its total over 2πσ²; the total is 10^(-0.4 (m - zp)) ADU a second.
    by_magnitude = [(ra, dec, 10 ** (-0.4 * (mag - zero_point)) * exptime_s / (2 * np.pi * sigma**2))
                    for ra, dec, mag in stars]  # fmt: skip
    for ra, dec, peak in [*extra_sources, *by_magnitude]:
        px, py = wcs.world_to_pixel(SkyCoord(ra * u.deg, dec * u.deg))
        sources.append((float(px), float(py), peak))
    donut = 4 * sigma if "defocus" in defects else 0.0
    reach = 6 * sigma + 2 * donut
    for sx, sy, peak in sources:
        box = (slice(max(0, int(sy - reach)), int(sy + reach) + 1), slice(max(0, int(sx - reach)), int(sx + reach) + 1))
        r = np.hypot(x[box] - sx, y[box] - sy)
        if donut:  # a defocused star is a ring holding the same light
            profile = np.exp(-((r - donut) ** 2) / (2 * sigma**2)) * sigma / (2 * donut)
        else:
            profile = np.exp(-(r**2) / (2 * sigma**2))
        image[box] += transparency * peak * profile
    if "clouds" in defects:
        image += sky_adu * 0.6 * (x / width + 0.5 * y / height)
    if "satellite" in defects:
        angle, offset = rng.uniform(0, np.pi), rng.uniform(0.3, 0.7)
        distance = (x - width * offset) * np.sin(angle) - (y - height * offset) * np.cos(angle)
        image += 4000 * np.exp(-(distance**2) / 2)
    if "cosmic_rays" in defects:
        for _ in range(max(5, width * height // 4000)):
            cx, cy, length = rng.integers(0, width), rng.integers(0, height), rng.integers(1, 6)
            image[cy, cx : cx + length] += rng.uniform(3000, 20000)
    if noise:  # photons are counted as electrons, GAIN to an ADU: the noise photometry expects from the header
        electrons = rng.poisson(np.clip(image, 0, None) * GAIN)
        image = (electrons / GAIN + rng.normal(0, READ_NOISE_ADU, image.shape)).astype(np.float32)
    else:
        image = image.astype(np.float32)
    header = wcs.to_header() if with_wcs else fits.Header()
    start = Time(obs_time, scale="utc")
    header.update({
        "DATE-OBS": start.isot, "MJD-OBS": round(start.mjd, 8), "EXPTIME": exptime_s, "FILTER": filter_name,
        "INSTRUME": instrument, "TELESCOP": telescope, "SITEID": site, "OBJECT": "field", "AIRMASS": airmass,
        "GAIN": GAIN, "BUNIT": "ADU",
    })  # fmt: skip
    if zero_point is not None:
        header["MAGZP"] = (zero_point, "magnitude of 1 ADU/s")
    header["SIMDEFCT"] = (",".join(sorted(defects)) or "none", "synthetic defects in this frame")
    return fits.PrimaryHDU(data=image, header=header)
