"""Aperture photometry and cutouts of targets in a frame (photutils, astropy.nddata)."""

import math

import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.stats import sigma_clipped_stats
from photutils.aperture import CircularAnnulus, CircularAperture

APERTURE_RADIUS_ARCSEC = 3.0
ANNULUS_ARCSEC = (6.0, 9.0)
CUTOUT_ARCSEC = 32.0
ZERO_POINT_KEYWORDS = ("MAGZP", "PHOTZP", "ZP", "MAGZPT")
COPIED_KEYWORDS = ("DATE-OBS", "MJD-OBS", "EXPTIME", "FILTER", "TELESCOP", "INSTRUME", "SITEID", "GAIN", "BUNIT")
FITS_BLOCK = 2880


def zero_point(header, filter_obj):
    """The frame's zero point: the header's own, else the site's calibration for the filter, else None."""
    for keyword in ZERO_POINT_KEYWORDS:
        if keyword in header:
            try:
                value = float(header[keyword])
            except (TypeError, ValueError):
                continue
            if 10 <= value <= 40:
                return value
    return filter_obj.zero_point_mag if filter_obj is not None else None


def measure(image, x, y, *, pixel_scale_arcsec, exptime_s, gain, zero_point_mag):
    """Background-subtracted flux in a 3″ aperture (local annulus 6–9″) with its error and magnitude.

    The error adds the source's Poisson noise (through the gain, when known) and the sky's
    scatter over the aperture and in the background estimate. The magnitude is None for
    a flux that is not positive (no detection).
    """
    radius = APERTURE_RADIUS_ARCSEC / pixel_scale_arcsec
    outer = ANNULUS_ARCSEC[1] / pixel_scale_arcsec
    # photutils checks the whole array it is given; the apertures only touch this box.
    left, bottom = max(int(x - outer) - 2, 0), max(int(y - outer) - 2, 0)
    image = image[bottom : int(y + outer) + 3, left : int(x + outer) + 3]
    x, y = x - left, y - bottom
    aperture = CircularAperture((x, y), r=radius)
    annulus = CircularAnnulus((x, y), r_in=ANNULUS_ARCSEC[0] / pixel_scale_arcsec, r_out=outer)
    # The annulus' pixels (centres inside) give the local sky; the aperture sums exact overlaps.
    # Sigma-clipped: a neighbour star in the annulus must not pass for sky noise (it made a
    # 20th-magnitude source's error 4 mag in a crowded field).
    sky_values = annulus.to_mask(method="center").get_values(image)
    sky_values = sky_values[np.isfinite(sky_values)]
    _, sky_median, sky_std = (float(value) for value in sigma_clipped_stats(sky_values, sigma=3.0, maxiters=5))
    total = float(aperture.do_photometry(image)[0][0])
    area = aperture.area
    flux = total - sky_median * area
    variance = (
        (max(flux, 0.0) / gain if gain else 0.0) + area * sky_std**2 + area**2 * sky_std**2 / max(sky_values.size, 1)
    )
    flux_err = math.sqrt(variance)
    mag = mag_err = None
    if flux > 0 and exptime_s > 0:
        instrumental = -2.5 * math.log10(flux / exptime_s)
        mag = instrumental + (zero_point_mag or 0.0)
        mag_err = 2.5 / math.log(10) * flux_err / flux
    return {
        "aperture_radius_arcsec": APERTURE_RADIUS_ARCSEC,
        "flux_adu": flux,
        "flux_err_adu": flux_err,
        "mag": mag,
        "mag_err": mag_err,
        "zero_point": zero_point_mag,
    }


def cutout_fits(image, wcs, x, y, *, pixel_scale_arcsec, header):
    """A small FITS around (x, y) with its own WCS, padded with NaN at the frame's edges."""
    size = int(np.ceil(CUTOUT_ARCSEC / pixel_scale_arcsec)) | 1
    cutout = Cutout2D(image, (x, y), (size, size), wcs=wcs, mode="partial", fill_value=np.nan, copy=True)
    out = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", size), ("NAXIS2", size)])
    out.extend(cutout.wcs.to_header().cards)
    for keyword in COPIED_KEYWORDS:
        if keyword in header:  # the frame's own value, over the one wcslib derived
            out[keyword] = header[keyword]
    # Written as the standard lays it out (header blocks, big-endian pixels, zero padding to
    # 2880 bytes): an HDU's writeto checks and copies again what was made valid just above,
    # which cost twice the rest of the cutout.
    pixels = cutout.data.astype(">f4").tobytes()
    return out.tostring().encode("ascii") + pixels + bytes(-len(pixels) % FITS_BLOCK)
