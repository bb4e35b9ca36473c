"""Synthetic alerts in the ZTF schema: the light curves a survey sees of supernovae, variable
stars and AGN, and bogus detections (cosmic rays, bad subtractions, satellite trails), each
with the science / template / difference stamps a difference-imaging pipeline cuts.

They fill the demo's dashboard, feed the tests and the latency benchmark, and teach the
real-bogus and light-curve classifiers until a labelled real stream is connected; the
same seed gives the same alerts.
"""

import gzip
import io
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from observations.synthetic import frame_wcs

from .features import ALERT_CLASSES
from .packets import JD_MJD_OFFSET, STAMPS

BOGUS_KINDS = ("cosmic_ray", "bad_subtraction", "satellite")
STAMP_SIZE = 63
PIXEL_SCALE_ARCSEC = 1.0
ZERO_POINT = 26.0  # counts = 10 ** (-0.4 (mag - ZERO_POINT))
LIMITING_MAGNITUDE = 20.5
FIDS = {"g": 1, "r": 2}
START_MJD = 61000.0  # 2025-11-19


@dataclass(frozen=True)
class SyntheticAlert:
    packet: dict  # the ZTF-schema record, stamps as gzipped FITS bytes
    kind: str  # one of ALERT_CLASSES: what the light-curve classifier should say
    bogus_kind: str  # one of BOGUS_KINDS for bogus alerts, else ""

    @property
    def real(self):
        return self.kind != "bogus"


def make_alert(seed, kind=None, *, ra_deg=None, dec_deg=None, mjd=None, object_id=None):
    """One labelled alert; ``kind`` (one of ALERT_CLASSES) is drawn when not given, and the position
    and time of the detection are drawn unless given."""
    rng = np.random.default_rng(seed)
    kind = kind or ALERT_CLASSES[rng.integers(len(ALERT_CLASSES))]
    if kind not in ALERT_CLASSES:
        raise ValueError(f"unknown alert kind {kind!r}; choose from {', '.join(ALERT_CLASSES)}")
    ra = float(rng.uniform(0, 360)) if ra_deg is None else ra_deg
    dec = float(np.degrees(np.arcsin(rng.uniform(-0.5, 0.95)))) if dec_deg is None else dec_deg
    now = float(START_MJD + rng.uniform(0, 30)) if mjd is None else mjd
    epochs = _cadence(rng, now)
    magnitudes = _LIGHT_CURVES[kind](rng, epochs)
    errors = np.clip(0.02 + 0.1 * 10 ** (0.4 * (magnitudes - LIMITING_MAGNITUDE)), 0.02, 0.5)
    observed = magnitudes + rng.normal(0, errors)
    bogus_kind = BOGUS_KINDS[rng.integers(len(BOGUS_KINDS))] if kind == "bogus" else ""
    band = epochs["band"][-1]
    stamps = _stamps(rng, ra, dec, observed[-1], bogus_kind)
    candidate_id = int(rng.integers(10**15, 10**16))
    packet = {
        "schemavsn": "3.3", "publisher": "Arrayscope synthetic alerts",
        "objectId": object_id or _object_id(rng, now), "candid": candidate_id,
        "candidate": _candidate(epochs["mjd"][-1], band, ra, dec, observed[-1], errors[-1], rng, bogus_kind),
        "prv_candidates": [_previous(epochs["mjd"][i], epochs["band"][i], observed[i], errors[i])
                           for i in range(len(observed) - 1)],
        **{field: {"fileName": f"candid{candidate_id}_{name}.fits.gz", "stampData": stamps[name]}
           for name, field in STAMPS.items()},
    }  # fmt: skip
    return SyntheticAlert(packet=packet, kind=kind, bogus_kind=bogus_kind)


def make_alerts(count, seed=0, kinds=ALERT_CLASSES):
    """``count`` alerts of the given kinds in turn, each from its own seed."""
    return [make_alert(seed * 1_000_003 + index, kinds[index % len(kinds)]) for index in range(count)]


def _cadence(rng, now):
    """Epochs of the last ~30 nights before ``now``: every 1–3 nights, g and r alternating."""
    gaps = rng.uniform(1, 3, size=20)
    mjd = now - np.concatenate([np.cumsum(gaps)[::-1], [0.0]])
    mjd = mjd[mjd > now - 30]
    bands = np.array(["g", "r"])[(np.arange(len(mjd)) + rng.integers(2)) % 2]
    return {"mjd": mjd, "band": bands}


def _bazin(rng, epochs, *, rise, fall):
    """Supernova-like flux: a fast rise and an exponential fall (Bazin et al. 2009), bluer
    bands fading faster, peaking within the window so the alert is near maximum."""
    peak = rng.uniform(17.0, 19.8)
    t0 = epochs["mjd"][-1] - rng.uniform(-5, 15)
    t = epochs["mjd"] - t0
    fall_band = np.where(epochs["band"] == "g", fall * 0.8, fall)
    flux = np.exp(-t / fall_band) / (1 + np.exp(-t / rise))
    grid = np.linspace(-30, 120, 3000)
    flux /= (np.exp(-grid / fall) / (1 + np.exp(-grid / rise))).max()  # 1 at maximum light, in r
    return peak - 2.5 * np.log10(np.clip(flux, 1e-6, None))


def _sn_ia(rng, epochs):
    return _bazin(rng, epochs, rise=rng.uniform(2, 4), fall=rng.uniform(18, 30))


def _sn_ii(rng, epochs):
    return _bazin(rng, epochs, rise=rng.uniform(3, 7), fall=rng.uniform(70, 120))


def _variable(rng, epochs):
    period, amplitude = 10 ** rng.uniform(-0.5, 1.3), rng.uniform(0.3, 1.0)
    phase = 2 * np.pi * (epochs["mjd"] / period + rng.uniform())
    return rng.uniform(15.5, 19) + amplitude * np.sin(phase) * np.where(epochs["band"] == "g", 1.2, 1.0)


def _agn(rng, epochs):
    """A damped random walk: the stochastic flicker of quasars (tau ~ 100 days)."""
    tau, sigma = 100.0, rng.uniform(0.1, 0.3)
    walk, previous = [], epochs["mjd"][0]
    value = rng.normal(0, sigma)
    for mjd in epochs["mjd"]:
        decay = np.exp(-(mjd - previous) / tau)
        value = value * decay + rng.normal(0, sigma * np.sqrt(1 - decay**2))
        walk.append(value)
        previous = mjd
    return rng.uniform(17, 19.5) + np.array(walk) + np.where(epochs["band"] == "g", 0.2, 0.0)


def _bogus(rng, epochs):
    """Nothing varies: a bogus detection comes alone, history fainter than the limit."""
    magnitudes = np.full(len(epochs["mjd"]), LIMITING_MAGNITUDE + 2.0)
    magnitudes[-1] = rng.uniform(16, 20)
    return magnitudes


_LIGHT_CURVES = {"sn_ia": _sn_ia, "sn_ii": _sn_ii, "variable": _variable, "agn": _agn, "bogus": _bogus}


def _stamps(rng, ra, dec, magnitude, bogus_kind):
    """Template (host galaxy and a star on sky), science (template, new seeing, the source)
    and their difference, 63 px at 1″ — or a bogus one's artefact instead of a source."""
    size = STAMP_SIZE
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = (size - 1) / 2
    sky = 200.0
    host_x, host_y = centre + rng.normal(0, 2, 2)
    host = rng.uniform(50, 400) * _psf(x, y, host_x, host_y, 2.3548 * rng.uniform(3, 8))
    star_x, star_y = rng.uniform(5, size - 5, 2)
    star = rng.uniform(500, 3000) * _psf(x, y, star_x, star_y, 1.8)
    template = sky + host + star + rng.normal(0, 3, (size, size))
    seeing = rng.uniform(1.6, 2.6)
    source = np.zeros_like(template)
    if bogus_kind == "cosmic_ray":
        source[int(centre) + rng.integers(-1, 2), int(centre) + rng.integers(-1, 2)] = rng.uniform(800, 3000)
    elif bogus_kind == "bad_subtraction":
        shift = rng.uniform(0.7, 1.5)
        source = (host.max() + 300) * (_psf(x, y, centre + shift, centre, seeing) - _psf(x, y, centre, centre, seeing))
    elif bogus_kind == "satellite":
        angle = rng.uniform(0, np.pi)
        distance = np.abs((x - centre) * np.sin(angle) - (y - centre) * np.cos(angle))
        source = rng.uniform(300, 1000) * np.exp(-(distance**2) / 2.0)
    else:
        flux = 10 ** (-0.4 * (magnitude - ZERO_POINT))
        source = flux * _psf(x, y, centre, centre, seeing) / (2 * np.pi * (seeing / 2.3548) ** 2)
    blurred = sky + host + star * (1.8 / seeing) ** 2
    science = blurred + source + rng.normal(0, np.sqrt(np.maximum(blurred + source, 1)) * 0.2)
    difference = science - template
    wcs = frame_wcs(ra, dec, size, size, PIXEL_SCALE_ARCSEC).to_header()
    return {name: _gzipped_fits(image, wcs) for name, image in
            (("science", science), ("template", template), ("difference", difference))}  # fmt: skip


def _psf(x, y, x0, y0, fwhm):
    sigma = fwhm / 2.3548
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))


def _gzipped_fits(image, header):
    buffer = io.BytesIO()
    fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(buffer)
    return gzip.compress(buffer.getvalue(), compresslevel=1)


def _candidate(mjd, band, ra, dec, magnitude, error, rng, bogus_kind):
    real_bogus = rng.beta(2, 8) if bogus_kind else rng.beta(8, 2)
    return {"jd": float(mjd + JD_MJD_OFFSET), "fid": FIDS[band], "pid": int(rng.integers(10**11, 10**12)),
            "ra": ra, "dec": dec, "magpsf": float(magnitude), "sigmapsf": float(error), "isdiffpos": "t",
            "diffmaglim": LIMITING_MAGNITUDE, "rb": float(real_bogus), "drb": float(real_bogus),
            "programid": 1}  # fmt: skip


def _previous(mjd, band, magnitude, error):
    """An earlier epoch: a detection, or an upper limit when fainter than the limit."""
    detected = magnitude < LIMITING_MAGNITUDE
    return {"jd": float(mjd + JD_MJD_OFFSET), "fid": FIDS[band], "magpsf": float(magnitude) if detected else None,
            "sigmapsf": float(error) if detected else None, "diffmaglim": LIMITING_MAGNITUDE}  # fmt: skip


def _object_id(rng, mjd):
    """A ZTF-style name: ZTF, the two-digit year, seven letters."""
    year = 25 if mjd < 61041 else 26
    return f"ZTF{year}" + "".join(chr(97 + int(c)) for c in rng.integers(0, 26, 7))
