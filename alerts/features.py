"""What the alert classifiers see and say: the stamp triplet as a normalised image, the light
curve as a fixed-length sequence of irregularly spaced points, and the classes each answers
with. numpy only, so training and inference build their inputs the same way.
"""

import numpy as np

from mlmodels.normalisation import asinh_normalise
from observations.fits import ImageError, inflate_fits, read_pixels

from .packets import STAMPS

# What the light-curve classifier tells apart (the synthetic alerts are drawn from these),
# and what the real-bogus one says.
ALERT_CLASSES = ("sn_ia", "sn_ii", "variable", "agn", "bogus")
CLASS_NAMES = {"sn_ia": "SN Ia", "sn_ii": "SN II", "variable": "variable star", "agn": "AGN", "bogus": "bogus"}
REAL_BOGUS_CLASSES = ("bogus", "real")
STAMP_SIZE = 63
SEQUENCE_LENGTH = 32
# One row per feature, one column per point (the network reads channels first, like a 1-D image).
SEQUENCE_FEATURES = ("days_since_first", "days_since_previous", "magnitude_offset", "magnitude_error", "band_g",
                     "band_r", "band_i", "upper_limit", "present")  # fmt: skip
BAND_ROWS = {"g": 4, "r": 5, "i": 6}


class AlertInputError(ValueError):
    """An alert the classifiers cannot read; the message says which part and why."""


def stamp_triplet(science, template, difference, size=STAMP_SIZE):
    """(3, size, size) float32: each stamp asinh-scaled by its own noise, centre-cropped or
    zero-padded to ``size`` (ZTF cuts 63 px, Rubin 30 px or more). Stamps are FITS, gzipped
    or plain; a packet may carry none (Rubin's need not), which is an answer of its own."""
    stamps = dict(zip(STAMPS, (science, template, difference)))
    missing = [name for name, data in stamps.items() if not data]
    if missing:
        raise AlertInputError("no stamps" if len(missing) == len(stamps) else f"no {' or '.join(missing)} stamp")
    planes = []
    for name, data in stamps.items():
        try:
            pixels, _ = read_pixels(inflate_fits(data), header=False)
        except ImageError as error:
            raise AlertInputError(f"the {name} stamp cannot be read ({error})") from error
        finite = np.isfinite(pixels)
        if pixels.ndim != 2 or not finite.any():
            raise AlertInputError(f"the {name} stamp is not a 2-D image with finite pixels")
        if not finite.all():  # most stamps have no blank pixel: no median to find
            pixels = np.nan_to_num(pixels, nan=float(np.nanmedian(pixels)))
        planes.append(_fit(pixels, size))
    return asinh_normalise(np.stack(planes)[:, None])[:, 0]


def _fit(plane, size):
    height, width = plane.shape
    out = np.zeros((size, size), dtype=np.float32)
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    crop = plane[top : top + size, left : left + size]
    y, x = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
    out[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return out


def light_curve(points, length=SEQUENCE_LENGTH):
    """(features, length) float32 from detections and upper limits — dicts with mjd, band
    and magnitude + error, or limit — oldest first; the latest ``length`` points are kept,
    right-aligned, the rest marked absent. Magnitudes are relative to the median detection,
    so a curve's shape counts, not how far away its source is."""
    points = sorted(points, key=lambda point: point["mjd"])[-length:]
    sequence = np.zeros((len(SEQUENCE_FEATURES), length), dtype=np.float32)
    if not points:
        return sequence
    detected = [point["magnitude"] for point in points if point.get("magnitude") is not None]
    reference = float(np.median(detected)) if detected else 20.0
    first, previous = points[0]["mjd"], points[0]["mjd"]
    start = length - len(points)
    for column, point in enumerate(points, start=start):
        limit = point.get("magnitude") is None
        sequence[0, column] = (point["mjd"] - first) / 30
        sequence[1, column] = (point["mjd"] - previous) / 10
        sequence[2, column] = (point["limit"] if limit else point["magnitude"]) - reference
        sequence[3, column] = 0.0 if limit else point["error"]
        sequence[BAND_ROWS.get(point["band"], 5), column] = 1.0
        sequence[7, column] = float(limit)
        sequence[8, column] = 1.0
        previous = point["mjd"]
    return sequence


def alert_points(history, *, mjd, band, magnitude, magnitude_error):
    """An alert's light curve: the history it carried and its own detection."""
    return [*history, {"mjd": mjd, "band": band, "magnitude": magnitude, "error": magnitude_error}]
