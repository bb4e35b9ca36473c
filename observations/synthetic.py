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


def frame_wcs(ra_deg, dec_deg, width, height, pixel_scale_arcsec):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(width + 1) / 2, (height + 1) / 2]
    wcs.wcs.cdelt = [-pixel_scale_arcsec / 3600, pixel_scale_arcsec / 3600]
    return wcs


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
    airmass=1.2,
    with_wcs=True,
    zero_point=None,
):
    """A PrimaryHDU with stars and sky; ``extra_sources`` are (ra, dec, peak ADU) to place exactly."""
    rng = np.random.default_rng(seed)
    wcs = frame_wcs(ra_deg, dec_deg, width, height, pixel_scale_arcsec)
    y, x = np.mgrid[0:height, 0:width]
    image = np.full((height, width), sky_adu, dtype=np.float64)
    sigma = seeing_fwhm_arcsec / pixel_scale_arcsec / 2.3548
    sources = [(rng.uniform(0, width), rng.uniform(0, height), 10 ** rng.uniform(2.3, 4.3)) for _ in range(n_stars)]
    for ra, dec, peak in extra_sources:
        px, py = wcs.world_to_pixel(SkyCoord(ra * u.deg, dec * u.deg))
        sources.append((float(px), float(py), peak))
    for sx, sy, peak in sources:
        box = (slice(max(0, int(sy - 6 * sigma)), int(sy + 6 * sigma) + 1),
               slice(max(0, int(sx - 6 * sigma)), int(sx + 6 * sigma) + 1))  # fmt: skip
        image[box] += peak * np.exp(-((x[box] - sx) ** 2 + (y[box] - sy) ** 2) / (2 * sigma**2))
    image = rng.poisson(np.clip(image, 0, None)).astype(np.float32) + rng.normal(0, 5, image.shape).astype(np.float32)
    header = wcs.to_header() if with_wcs else fits.Header()
    start = Time(obs_time, scale="utc")
    header.update({
        "DATE-OBS": start.isot, "MJD-OBS": round(start.mjd, 8), "EXPTIME": exptime_s, "FILTER": filter_name,
        "INSTRUME": instrument, "TELESCOP": telescope, "SITEID": site, "OBJECT": "field", "AIRMASS": airmass,
        "GAIN": 1.6, "BUNIT": "ADU",
    })  # fmt: skip
    if zero_point is not None:
        header["MAGZP"] = (zero_point, "magnitude of 1 ADU/s")
    return fits.PrimaryHDU(data=image, header=header)
