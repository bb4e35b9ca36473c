"""A target's light curve fused across sites: every measurement on the cross-site scale
(``observations.calibrated_photometry``), those of one epoch combined by inverse variance,
one curve per band instead of one offset curve per site, and how far each site's own zero
points were off.

Measurements are combined as fluxes, not magnitudes: the mean of magnitudes is biased for
faint points, and a flux's error is symmetric where a magnitude's is not. Plain Python over
the rows it is given (``observations.services.fused_light_curve`` reads them), so that a
benchmark can run it on measurements of its own.
"""

import math
from dataclasses import dataclass

import numpy as np

WINDOW_HOURS = (0.1, 720.0)
DEFAULT_WINDOW_HOURS = 24.0  # one night of every site: Teide, McDonald and Siding Spring follow on


@dataclass(frozen=True)
class Epoch:
    """One band's measurements within a window, combined: the inverse-variance weighted
    flux's magnitude, and the weighted mid-time."""

    band: str
    mjd: float
    mag: float
    mag_err: float
    count: int
    sites: tuple
    calibrated: bool
    chi2: float  # of the measurements around their mean, per degree of freedom (0 for one)


@dataclass(frozen=True)
class SiteOffset:
    """How far a site's own zero points were from the cross-site scale in one band: the
    weighted mean of fitted minus own over its nights (its error no smaller than the nights'
    scatter allows), and their scatter; and its colour term, where one was fitted."""

    site: str
    band: str
    offset: float
    error: float
    scatter: float
    nights: int
    frames: int
    colour: str = ""  # the colour index of its colour term, when it has one
    colour_term: float | None = None


@dataclass
class FusedLightCurve:
    epochs: list
    offsets: list
    window_hours: float
    left_out: int  # measurements of a calibrated band not on its scale (newer than the calibration)


def calibrated_value(point):
    """(magnitude, error, on the cross-site scale?) of a Photometry row."""
    calibrated = getattr(point, "calibrated", None)  # the reverse one-to-one raises an AttributeError when absent
    if calibrated is None:
        return point.mag, point.mag_err, False
    return calibrated.mag, calibrated.mag_err, True


def fuse_light_curve(points, *, window_hours=DEFAULT_WINDOW_HOURS, calibrations=()):
    """The FusedLightCurve of ``points`` (Photometry rows, their ``calibrated`` and ``site``
    loaded). A band with any calibrated measurement is fused from its calibrated ones only (a
    raw one would bring its site's offset back); a band never calibrated is fused as measured.
    An epoch opens at its first measurement and holds those less than ``window_hours`` after it."""
    by_band = {}
    for point in points:
        mag, error, on_scale = calibrated_value(point)
        if mag is not None and error:
            by_band.setdefault(point.filter_name, []).append((point.mjd, mag, error, _site(point), on_scale))
    epochs, left_out = [], 0
    for band, measured in sorted(by_band.items()):
        if any(on_scale for *_, on_scale in measured):
            left_out += sum(not on_scale for *_, on_scale in measured)
            measured = [each for each in measured if each[4]]
        measured.sort()
        start = 0
        for index in range(1, len(measured) + 1):
            if index == len(measured) or measured[index][0] - measured[start][0] >= window_hours / 24:
                epochs.append(_combine(band, measured[start:index]))
                start = index
    epochs.sort(key=lambda epoch: (epoch.mjd, epoch.band))
    return FusedLightCurve(epochs=epochs, offsets=site_offsets(calibrations), window_hours=window_hours,
                           left_out=left_out)  # fmt: skip


def _combine(band, measured):
    mjd, mag, error = (np.array([each[index] for each in measured]) for index in range(3))
    flux = 10 ** (-0.4 * mag)
    flux_error = flux * error * math.log(10) / 2.5
    weight = 1 / flux_error**2
    mean = float(np.sum(weight * flux) / np.sum(weight))
    mean_error = float(1 / math.sqrt(np.sum(weight)))
    chi2 = float(np.sum(weight * (flux - mean) ** 2) / (len(flux) - 1)) if len(flux) > 1 else 0.0
    return Epoch(band=band, mjd=float(np.sum(weight * mjd) / np.sum(weight)), mag=-2.5 * math.log10(mean),
                 mag_err=2.5 / math.log(10) * mean_error / mean, count=len(measured),
                 sites=tuple(sorted({each[3] for each in measured})), calibrated=measured[0][4], chi2=chi2)  # fmt: skip


def site_offsets(calibrations):
    """A SiteOffset per site and band of the FrameCalibration rows (those tied, with their own
    zero point), one value a night: a night's frames share their fit."""
    nights = {}
    for row in calibrations:
        if row.offset is not None and row.zero_point_error:
            key = (row.site.code if row.site else "no site", row.run.band)
            nights.setdefault(key, {}).setdefault(row.night, []).append(row)
    offsets = []
    for (site, band), by_night in sorted(nights.items()):
        values = np.array([np.mean([row.offset for row in rows]) for rows in by_night.values()])
        errors = np.array([min(row.zero_point_error for row in rows) for rows in by_night.values()])
        weight = 1 / errors**2
        termed = [row for rows in by_night.values() for row in rows if row.colour_term is not None]
        offsets.append(SiteOffset(
            site=site, band=band, offset=float(np.sum(weight * values) / np.sum(weight)),
            error=max(float(1 / math.sqrt(np.sum(weight))), float(np.std(values) / math.sqrt(len(values)))),
            scatter=float(np.std(values)), nights=len(values), frames=sum(len(rows) for rows in by_night.values()),
            colour=termed[0].colour if termed else "", colour_term=termed[0].colour_term if termed else None,
        ))  # fmt: skip
    return offsets


def _site(point):
    return point.site.code if point.site else "no site"
