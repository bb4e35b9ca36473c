"""What a frame's FITS headers say, read the way real instruments write them.

Multi-extension files keep what names the observation (TELESCOP, INSTRUME, DATE-OBS…) in the
primary header and what belongs to the pixels (WCS, gain) in each extension. The FITS INHERIT
convention says when the first applies to the second: INHERIT = T yes, INHERIT = F no, and
without the keyword the common practice — a primary header with no data of its own is shared
by all extensions. The time of an observation has been written in half a dozen conventions
over the decades; each is read here, and the one used is named on the frame.
"""

import re
import warnings
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from .fits import FrameRejected

# Cards that describe one HDU's own layout or checksum: never carried from the primary header.
OWN_CARDS = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
             "EXTNAME", "EXTVER", "EXTLEVEL", "INHERIT", "CHECKSUM", "DATASUM", "COMMENT", "HISTORY", "",
             "END"}  # fmt: skip


@dataclass
class FrameHeader:
    """The image HDU's header with the primary header behind it where the file says it applies."""

    image: fits.Header
    hdu_index: int
    primary: fits.Header | None = None  # inherited: its keywords apply where the image's own are missing
    withheld: fits.Header | None = None  # not inherited (INHERIT = F): kept only to say so in a refusal

    @classmethod
    def of(cls, image, hdu_index, primary):
        if hdu_index == 0:
            return cls(image, 0)
        flag = image.get("INHERIT")
        if flag is None:
            inherits = not primary.get("NAXIS")
        else:
            inherits = flag is True or str(flag).strip().upper() in ("T", "TRUE")
        return cls(image, hdu_index, primary if inherits else None, None if inherits else primary)

    @property
    def image_label(self):
        return "primary header" if self.hdu_index == 0 else f"HDU {self.hdu_index} header"

    def where(self, keyword):
        """Which header holds the keyword ("primary header", "HDU 1 header"), or None."""
        if keyword in self.image:
            return self.image_label
        if self.primary is not None and keyword in self.primary and keyword.upper() not in OWN_CARDS:
            return "primary header"
        return None

    def __contains__(self, keyword):
        return self.where(keyword) is not None

    def get(self, keyword, default=None):
        if keyword in self.image:
            return self.image[keyword]
        if self.where(keyword):
            return self.primary[keyword]
        return default

    def comment(self, keyword):
        header = self.image if keyword in self.image else self.primary
        return str(header.comments[keyword]) if self.where(keyword) else ""

    @property
    def inherited(self):
        """Whether any keyword is read beyond the image HDU (the slower, rarer path)."""
        return self.primary is not None and any(card.keyword not in OWN_CARDS for card in self.primary.cards)

    def merged(self):
        """One header with the inherited cards first and the image's own after them, for storing,
        photometry's zero point and cutouts."""
        if self.primary is None:
            return self.image
        merged = fits.Header([card for card in self.primary.cards if card.keyword not in OWN_CARDS])
        merged.extend(self.image.cards, update=True)
        return merged

    def where_withheld(self, keyword):
        """A refusal's hint: the primary header holds the keyword but INHERIT = F keeps it from the image."""
        if self.withheld is not None and keyword in self.withheld:
            return (f"; HDU {self.hdu_index} says INHERIT = F, so the primary header's {keyword} = "
                    f"{self.withheld[keyword]!r} does not apply to it (set INHERIT = T or {keyword} in HDU "
                    f"{self.hdu_index})")  # fmt: skip
        return ""


def describe_source(header, keywords, suffix=""):
    """'DATE-OBS + TIME-OBS (primary header)', or each keyword with its own header when they differ."""
    places = [header.where(keyword) for keyword in keywords]
    if len(set(places)) == 1:
        text = f"{' + '.join(keywords)} ({places[0]})"
    else:
        text = " + ".join(f"{keyword} ({place})" for keyword, place in zip(keywords, places))
    return text + suffix


# ---- observation time ------------------------------------------------------------------------

CLOCK_KEYWORDS = ("TIME-OBS", "UT", "UTSTART", "UT-START", "UTC-OBS")
# Spitzer and some older pipelines write DATE_OBS and MJD_OBS with an underscore.
DATE_KEYWORDS = ("DATE-OBS", "DATE_OBS")
NUMERIC_KEYWORDS = (("MJD-OBS", "mjd"), ("MJD_OBS", "mjd"), ("MJD-BEG", "mjd"), ("EXPSTART", "mjd"), ("JD-OBS", "jd"),
                    ("JD", "jd"))  # fmt: skip
# TIMESYS values and the astropy scale they name; GPS runs a constant 19 s behind TAI.
TIME_SCALES = {"UTC": "utc", "UT": "utc", "GMT": "utc", "TAI": "tai", "IAT": "tai", "TT": "tt", "TDT": "tt",
               "ET": "tt", "TDB": "tdb", "TCG": "tcg", "TCB": "tcb", "GPS": "tai"}  # fmt: skip
TIME_FORMATS = {"iso": "ISO date and time", "dmy": "dd/mm/yy date", "time": "time of day", "mjd": "MJD", "jd": "JD"}

ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
ISO_DATE_TIME = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})[T ](\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d*)?)?)Z?$")
OLD_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")  # the pre-2000 FITS 'dd/mm/yy' (19yy)
CLOCK = re.compile(r"^(\d{1,2})[: ](\d{1,2})(?:[: ](\d{1,2}(?:\.\d*)?))?$")


@dataclass
class ObservationTime:
    start: Time  # UTC
    source: str  # which keywords, in which header: shown on the frame


def observation_time(header, rule=None):
    """The start of the exposure from the first convention the header follows (a site's DATE-OBS
    header rule first), as UTC. A date without a time of day is never taken for midnight."""
    scale, scale_note = _time_scale(header)
    if rule is not None:
        return _by_rule(header, rule, scale, scale_note)
    if "DATE-BEG" in header:
        return ObservationTime(_iso(header, "DATE-BEG", scale), describe_source(header, ["DATE-BEG"], scale_note))
    day_only = None
    date_keyword = next((keyword for keyword in DATE_KEYWORDS if keyword in header), None)
    if date_keyword is not None:
        value = _text(header, date_keyword)
        if ISO_DATE_TIME.match(value):
            return ObservationTime(_iso(header, date_keyword, scale), describe_source(header, [date_keyword],
                                                                                      scale_note))  # fmt: skip
        day = _day(value)
        if day is None:
            raise FrameRejected(f"{date_keyword} = {value!r} ({header.where(date_keyword)}) is not a date and time "
                                "this portal reads: write it as ISO 8601 ('2026-03-14T22:10:00'), 'dd/mm/yy' with "
                                "TIME-OBS, or give MJD-OBS")  # fmt: skip
        clock = next((keyword for keyword in CLOCK_KEYWORDS if keyword in header), None)
        if clock is not None:
            start = _at(day, header, clock, scale)
            return ObservationTime(start, describe_source(header, [date_keyword, clock], scale_note))
        day_only = f"{date_keyword} = {value!r} ({header.where(date_keyword)})"
    for keyword, form in NUMERIC_KEYWORDS:
        if keyword in header:
            start = _number_time(header, keyword, form, scale)
            return ObservationTime(start, describe_source(header, [keyword], scale_note))
    if day_only is not None:
        raise FrameRejected(f"{day_only} gives the day but not the time, "
                            f"and no {', '.join(CLOCK_KEYWORDS)}, MJD-OBS or EXPSTART keyword says when in the day: "
                            "add one to the header")  # fmt: skip
    raise FrameRejected("no DATE-OBS, DATE-BEG, MJD-OBS, EXPSTART or JD keyword in the image or primary header: when "
                        "was it taken? Add DATE-OBS (ISO 8601, UTC) to the header")  # fmt: skip


def _by_rule(header, rule, scale, scale_note):
    keyword, form = rule.read_from, rule.time_format
    source = f"{keyword} as {TIME_FORMATS[form]}, by header rule"
    if keyword not in header:
        raise FrameRejected(f"the site's header rule says {keyword} holds the observation time, but the image and "
                            "primary headers have no such keyword")  # fmt: skip
    place = f" ({header.where(keyword)})"
    if form in ("mjd", "jd"):
        return ObservationTime(_number_time(header, keyword, form, scale), source + place + scale_note)
    value = _text(header, keyword)
    if form == "iso" and ISO_DATE_TIME.match(value):
        return ObservationTime(_iso(header, keyword, scale), source + place + scale_note)
    if form == "time":
        day = _day(_text(header, "DATE-OBS")) if "DATE-OBS" in header else None
        if day is None:
            raise FrameRejected(f"the header rule reads the time of day from {keyword}, but DATE-OBS gives no date")
        return ObservationTime(_at(day, header, keyword, scale), f"DATE-OBS + {source}{place}{scale_note}")
    day = _day(value, old_style=form == "dmy")
    if day is None:
        raise FrameRejected(f"{keyword} = {value!r} is not a {TIME_FORMATS[form]} as the site's header rule says")
    clock = next((name for name in CLOCK_KEYWORDS if name in header), None)
    if clock is None:
        raise FrameRejected(f"{keyword} = {value!r} gives the day but not the time, and no "
                            f"{', '.join(CLOCK_KEYWORDS)} keyword says when in the day")  # fmt: skip
    return ObservationTime(_at(day, header, clock, scale), f"{source} + {clock}{place}{scale_note}")


def _time_scale(header):
    """(astropy scale, note for the source) of TIMESYS; UTC when the header does not say."""
    if "TIMESYS" not in header:
        return "utc", ""
    name = _text(header, "TIMESYS").upper()
    if name not in TIME_SCALES:
        raise FrameRejected(f"TIMESYS = {name!r} is not a time scale this portal converts to UTC "
                            f"({', '.join(sorted(set(TIME_SCALES)))})")  # fmt: skip
    return TIME_SCALES[name], "" if TIME_SCALES[name] == "utc" else f", {name} → UTC"


def _in_scale(time, header):
    """The time (read in TIMESYS' scale) in UTC; a GPS clock reads 19 s less than TAI."""
    if _text(header, "TIMESYS").upper() == "GPS":
        time = time + 19 * u.s
    return time.utc


def _text(header, keyword):
    return str(header.get(keyword, "")).strip()


def _day(value, old_style=None):
    """(year, month, day) of an ISO date (a time after it is ignored) or of the old 'dd/mm/yy'
    (19yy); ``old_style`` True or False accepts only one of them."""
    iso = ISO_DAY.match(value)
    if iso and old_style is not True:
        return tuple(int(part) for part in iso.groups())
    old = OLD_DATE.match(value)
    if old and old_style is not False:
        day, month, year = (int(part) for part in old.groups())
        return (year + 1900 if year < 100 else year), month, day
    return None


def _iso(header, keyword, scale):
    value = _text(header, keyword).rstrip("Z")
    try:
        return _in_scale(Time(value.replace(" ", "T"), format="isot", scale=scale), header)
    except ValueError as error:
        raise FrameRejected(f"{keyword} = {value!r} ({header.where(keyword)}) is not a date and time") from error


def _at(day, header, clock_keyword, scale):
    """The day at the time of day a clock keyword ('hh:mm:ss') gives."""
    value = _text(header, clock_keyword)
    clock = CLOCK.match(value)
    if clock is None:
        raise FrameRejected(f"{clock_keyword} = {value!r} ({header.where(clock_keyword)}) is not a time of day "
                            "('hh:mm:ss')")  # fmt: skip
    hours, minutes, seconds = int(clock.group(1)), int(clock.group(2)), float(clock.group(3) or 0)
    year, month, date = day
    try:
        midnight = Time(f"{year:04d}-{month:02d}-{date:02d}T00:00:00", format="isot", scale=scale)
    except ValueError as error:
        raise FrameRejected(f"DATE-OBS gives {year:04d}-{month:02d}-{date:02d}, which is not a date") from error
    if hours > 23 or minutes > 59 or seconds >= 61:
        raise FrameRejected(f"{clock_keyword} = {value!r} ({header.where(clock_keyword)}) is not a time of day")
    return _in_scale(midnight + (hours * 3600 + minutes * 60 + seconds) * u.s, header)


def _number_time(header, keyword, form, scale):
    try:
        value = float(header.get(keyword))
    except (TypeError, ValueError) as error:
        raise FrameRejected(f"{keyword} = {header.get(keyword)!r} ({header.where(keyword)}) is not a number") from error
    if not np.isfinite(value) or value <= 0:
        raise FrameRejected(f"{keyword} = {value!r} ({header.where(keyword)}) is not a {form.upper()}")
    return _in_scale(Time(value, format=form, scale=scale), header)


# ---- exposure ------------------------------------------------------------------------------

EXPOSURE_KEYWORDS = ("EXPTIME", "EXPOSURE", "ITIME", "EXP_TIME", "TEXPTIME")
UNIT_WORDS = ((r"\bhours?\b|\bhr\b|\[h\]", 3600), (r"\bmin(ute)?s?\b|\[min\]", 60))


def exposure_seconds(header):
    """(seconds, keyword) of the first exposure keyword; seconds unless the card's comment says
    minutes or hours (the Digitized Sky Survey writes EXPOSURE in minutes)."""
    for keyword in EXPOSURE_KEYWORDS:
        if keyword in header:
            try:
                value = float(header.get(keyword))
            except (TypeError, ValueError) as error:
                raise FrameRejected(f"{keyword} = {header.get(keyword)!r} is not a number") from error
            comment = header.comment(keyword).lower()
            return value * next((factor for unit, factor in UNIT_WORDS if re.search(unit, comment)), 1), keyword
    raise FrameRejected("no EXPTIME keyword in the image or primary header (nor EXPOSURE, ITIME): how long was the "
                        "exposure, in seconds?")  # fmt: skip


# ---- astrometry ------------------------------------------------------------------------------

SPECTRAL_PREFIXES = ("FREQ", "ENER", "WAVN", "VRAD", "WAVE", "VOPT", "ZOPT", "AWAV", "VELO", "BETA", "LAMBDA")


def celestial_wcs(header, fobj=None):
    """(the image's celestial WCS, None) or (None, why the frame is kept without astrometry).

    Read from the image's own header (a primary header's WCS describes other pixels), with
    SIP, TPV and ZPN distortions and lookup tables as wcslib reads them; extra degenerate
    axes (radio maps' Stokes and frequency planes) are dropped. A WCS whose first two axes
    are not RA/Dec, or whose corners land off the sky, is not used: a frame not placed is
    better than one placed wrongly.
    """
    ctypes = [str(header.get(f"CTYPE{axis}", "")).strip() for axis in (1, 2)]
    if not any(ctypes) and "CD1_1" not in header and "PC1_1" not in header:
        return None, "the header has no WCS (no CTYPE1/CTYPE2)"
    if any(value.upper().startswith(SPECTRAL_PREFIXES) for value in ctypes):
        return None, _not_celestial(ctypes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            full = WCS(header, fobj=fobj)
            if not full.has_celestial:
                return None, _not_celestial(ctypes)
            if sorted((full.wcs.lng, full.wcs.lat)) != [0, 1]:
                return None, (f"the image's axes are {ctypes[0] or '?'} and {ctypes[1] or '?'}; its RA and Dec "
                              f"are axes {full.wcs.lng + 1} and {full.wcs.lat + 1}")  # fmt: skip
            wcs = full if full.naxis == 2 else full.celestial
            scales = proj_plane_pixel_scales(wcs)
        except Exception as error:  # astropy.wcs raises many kinds for broken keywords
            reason = str(error).strip().splitlines()[-1]  # wcslib's last line says what; the first, where in C
            return None, f"the WCS cannot be used ({reason})"
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        return None, "the WCS gives no usable pixel scale (CDELT or CD matrix zero or missing)"
    return wcs, None


def _not_celestial(ctypes):
    named = " and ".join(f"CTYPE{axis} = {value!r}" for axis, value in enumerate(ctypes, 1) if value) or "no CTYPE"
    if any(value.upper().startswith(SPECTRAL_PREFIXES) for value in ctypes):
        return f"a spectrum: its WCS has a spectral axis ({named}), not RA and Dec"
    return f"the WCS is not celestial ({named})"
