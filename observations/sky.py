"""Sky geometry for targets: parsing positions, HEALPix indexing and cone coverage (astropy)."""

import math

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, Angle, SkyCoord
from astropy_healpix import HEALPix
from astropy_healpix.core import healpix_cone_search

STORAGE_ORDER = 16  # nside 65536: pixels of about 3.2 arcsec
_STORAGE = HEALPix(nside=2**STORAGE_ORDER, order="nested", frame=ICRS())
_ONE_PIXEL_DEG = math.degrees(math.sqrt(4 * math.pi / 12))  # pixel size at order 0 (58.6°)
FRAMES = {"icrs": "icrs", "fk5": "fk5", "galactic": "galactic", "ecliptic": "barycentrictrueecliptic"}


class PositionError(ValueError):
    """A position that cannot be understood; the message names the field and the reason."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def healpix_index(ra_deg, dec_deg):
    """Nested HEALPix index at the storage order; scalars or arrays."""
    return _STORAGE.lonlat_to_healpix(np.asarray(ra_deg) * u.deg, np.asarray(dec_deg) * u.deg)


def parse_position(text, frame="icrs"):
    """Read a position as an astronomer types it and return it in ICRS.

    Accepts sexagesimal (``10h08m22.3s +12d34m``, ``10:08:22.3 +12:34:00``) or decimal
    degrees (``152.093 12.571``), in ICRS, FK5 or as galactic/ecliptic longitude and
    latitude. A colon-separated or h/m/s first part is hours; otherwise degrees.
    """
    if frame not in FRAMES:
        raise PositionError("frame", f"unknown frame {frame!r}; use one of {', '.join(FRAMES)}.")
    parts = text.replace(",", " ").split()
    if len(parts) < 2:
        raise PositionError("position", "give two coordinates, e.g. '10h08m22.3s +12d34m' or '152.09 12.57'.")
    first = parts[0]
    hours = frame in ("icrs", "fk5") and (":" in first or "h" in first.lower())
    unit = (u.hourangle, u.deg) if hours else (u.deg, u.deg)
    try:
        coordinate = SkyCoord(" ".join(parts), unit=unit, frame=FRAMES[frame])
    except (ValueError, u.UnitsError) as error:
        raise PositionError("position", f"cannot read {text!r} as a position ({error}).") from error
    return coordinate.icrs


def position_from_degrees(ra_deg, dec_deg):
    if not -90 <= dec_deg <= 90:
        raise PositionError("dec", f"declination {dec_deg}° is outside −90° … +90°.")
    if not 0 <= ra_deg < 360:
        raise PositionError("ra", f"right ascension {ra_deg}° is outside 0° … 360°.")
    return SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs")


def parse_radius(value, default_unit=u.arcmin):
    """A search radius like ``1 arcmin``, ``30"``, ``0.5 deg`` or a bare number in ``default_unit``."""
    try:
        angle = Angle(value) if isinstance(value, str) and not _is_number(value) else Angle(float(value), default_unit)
    except (ValueError, u.UnitsError) as error:
        raise PositionError("radius", f"cannot read {value!r} as an angle ({error}).") from error
    if not 0 < angle.deg <= 180:
        raise PositionError("radius", f"a radius must be more than 0 and at most 180°, not {angle.deg:g}°.")
    return angle


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def cone_index_ranges(ra_deg, dec_deg, radius_deg):
    """Inclusive ranges of storage-order HEALPix indices covering the cone.

    The cover is computed at the coarsest order whose pixels are no larger than the
    diameter, so a cone of any size touches about a dozen pixels; each is a contiguous
    range of fine (nested) indices, which a B-tree index answers directly. The cover is
    asked for a radius one pixel larger: every pixel that overlaps the cone has its centre
    within that margin, and astropy-healpix's own cover can miss an overlapping pixel
    (seen at order 5). Plain degrees go straight to astropy-healpix's cone search: this
    runs on every cone query, and a HEALPix object, SkyCoord attributes and Angle
    arithmetic would cost more than the search.
    """
    order = min(max(math.floor(math.log2(_ONE_PIXEL_DEG / radius_deg)), 0), STORAGE_ORDER)
    nside = 2**order
    margin_deg = _ONE_PIXEL_DEG / nside
    pixels = np.sort(
        healpix_cone_search(ra_deg << u.deg, dec_deg << u.deg, (radius_deg + margin_deg) << u.deg, nside, "nested")
    )
    shift = 2 * (STORAGE_ORDER - order)
    ranges = []
    for pixel in pixels.tolist():
        low, high = pixel << shift, ((pixel + 1) << shift) - 1
        if ranges and ranges[-1][1] + 1 == low:
            ranges[-1][1] = high
        else:
            ranges.append([low, high])
    return [tuple(r) for r in ranges]


def parse_cone(*, position=None, ra=None, dec=None, radius=None, frame="icrs"):
    """The centre and radius of a cone search from form or query parameters.

    The centre is either free text (``position``, in ``frame``) or ``ra``/``dec`` in
    degrees; the radius defaults to arcminutes. Returns None when no centre is given.
    """
    if position:
        centre = parse_position(position, frame)
    elif ra not in (None, "") or dec not in (None, ""):
        if ra in (None, "") or dec in (None, ""):
            raise PositionError("ra" if ra in (None, "") else "dec", "give both ra and dec, in degrees.")
        try:
            centre = position_from_degrees(float(ra), float(dec))
        except ValueError as error:
            if isinstance(error, PositionError):
                raise
            raise PositionError("ra", f"ra and dec must be numbers of degrees, not {ra!r}, {dec!r}.") from error
    else:
        return None
    return centre, parse_radius(radius if radius not in (None, "") else "1")
