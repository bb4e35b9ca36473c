"""When a target can be observed from a site: the sky over a site in time slices, and each
target's altitude, airmass and distance from the Moon in them.

The Sun and Moon are computed once per site and slice (astropy's ``get_body``, in the site's
AltAz frame), then any number of targets are placed in the same frames at once, so that one
night of a site costs the same whether it is asked about one request or five thousand. A
slice is usable for a target when all of these hold at its middle: the Sun below
``SUN_MAX_ALTITUDE_DEG`` (astronomical twilight), the target above the site's horizon limit
and within the request's airmass, far enough from the Moon, and the Moon no brighter than the
request allows (or below the horizon, where its light does not matter).
"""

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, SkyCoord, get_body
from astropy.time import Time

SUN_MAX_ALTITUDE_DEG = -18.0  # astronomical twilight
SLICE_MINUTES = 5


@dataclass(frozen=True)
class Constraints:
    """What a request asks of the sky; LCO's defaults."""

    max_airmass: float = 1.6
    min_lunar_distance_deg: float = 30.0
    max_lunar_illumination: float = 1.0  # fraction of the disc lit: 1 accepts any Moon


@dataclass
class SiteSky:
    """The sky over one site at the middle of each slice from ``start`` to ``end``."""

    site: object  # portal.models.Site: its location and horizon limit
    edges: Time  # slice boundaries, one more than the slices
    frame: AltAz
    sun_altitude_deg: np.ndarray
    moon: SkyCoord  # in ``frame``
    moon_illumination: np.ndarray  # fraction of the disc lit, 0..1

    @classmethod
    def over(cls, site, start, end, slice_minutes=SLICE_MINUTES):
        start, end = Time(start), Time(end)
        count = max(1, int(np.ceil(((end - start).to_value(u.min) - 1e-9) / slice_minutes)))
        edges = start + np.arange(count + 1) * slice_minutes * u.min
        edges[-1] = end  # the last slice ends with the window
        middles = edges[:-1] + (edges[1:] - edges[:-1]) / 2
        frame = AltAz(obstime=middles, location=site.earth_location)
        sun, moon = get_body("sun", middles), get_body("moon", middles)
        # The Moon's phase from the Sun–Moon elongation seen from the Earth (Meeus, ch. 48).
        elongation = sun.separation(moon)
        phase_angle = np.arctan2(sun.distance * np.sin(elongation), moon.distance - sun.distance * np.cos(elongation))
        return cls(
            site=site, edges=edges, frame=frame,
            sun_altitude_deg=sun.transform_to(frame).alt.deg,
            moon=moon.transform_to(frame),
            moon_illumination=np.asarray((1 + np.cos(phase_angle)) / 2),
        )  # fmt: skip

    def part(self, first, last, site=None):
        """The same sky over slices ``first`` to ``last`` − 1, computing nothing again."""
        site = site or self.site
        return SiteSky(site=site, edges=self.edges[first : last + 1],
                       frame=AltAz(obstime=self.frame.obstime[first:last], location=site.earth_location),
                       sun_altitude_deg=self.sun_altitude_deg[first:last], moon=self.moon[first:last],
                       moon_illumination=self.moon_illumination[first:last])  # fmt: skip

    @property
    def starts(self):
        return self.edges[:-1]

    @property
    def dark(self):
        return self.sun_altitude_deg < SUN_MAX_ALTITUDE_DEG

    def targets(self, ra_deg, dec_deg, slices=None):
        """The targets (ICRS degrees, arrays of N) in every slice, or in the ``slices`` (indices)
        only: (altitude °, airmass, Moon distance °), each an array of slices × N."""
        ra, dec = np.atleast_1d(ra_deg), np.atleast_1d(dec_deg)
        slices = np.arange(len(self.sun_altitude_deg)) if slices is None else slices
        sky = SkyCoord(ra[None, :] * u.deg, dec[None, :] * u.deg)
        frame = AltAz(obstime=self.frame.obstime[slices][:, None], location=self.site.earth_location)
        placed = sky.transform_to(frame)
        altitude = placed.alt.deg
        with np.errstate(divide="ignore"):
            # Plane-parallel sec z is enough where a request's airmass limit lies (≤ 3); below the
            # horizon the airmass is infinite.
            airmass = np.where(altitude > 0, 1 / np.sin(np.radians(np.clip(altitude, 1e-6, 90))), np.inf)
        moon = self.moon[slices][:, None]
        moon_distance = placed.separation(moon).deg
        return altitude, airmass, moon_distance

    def usable(self, ra_deg, dec_deg, constraints):
        """Slices × N booleans: where each target may be observed under ``constraints``
        (one Constraints for all, or a sequence of N)."""
        return self.judge(ra_deg, dec_deg, constraints).usable

    def judge(self, ra_deg, dec_deg, constraints, *, night_only=False):
        """The targets placed in every slice, and where each constraint fails them. With
        ``night_only`` they are placed in the dark slices only (a scheduler's day would be
        wasted work: twilight fails every target); elsewhere their altitude is NaN."""
        if night_only:
            dark = np.flatnonzero(self.dark)
            shape = (len(self.dark), len(np.atleast_1d(ra_deg)))
            altitude, airmass, moon_distance = (np.full(shape, fill) for fill in (np.nan, np.inf, np.nan))
            altitude[dark], airmass[dark], moon_distance[dark] = self.targets(ra_deg, dec_deg, dark)
        else:
            altitude, airmass, moon_distance = self.targets(ra_deg, dec_deg)
        count = altitude.shape[1]
        if isinstance(constraints, Constraints):
            constraints = [constraints] * count
        max_airmass = np.array([c.max_airmass for c in constraints])[None, :]
        min_moon = np.array([c.min_lunar_distance_deg for c in constraints])[None, :]
        max_lit = np.array([c.max_lunar_illumination for c in constraints])[None, :]
        moon_up = (self.moon.alt.deg > 0)[:, None]
        failures = {
            "daylight": np.broadcast_to(~self.dark[:, None], altitude.shape),
            "below the horizon limit": altitude < self.site.horizon_limit_deg,
            "airmass": airmass > max_airmass,
            "Moon too close": moon_up & (moon_distance < min_moon),
            "Moon too bright": moon_up & (self.moon_illumination[:, None] > max_lit),
        }
        return Judgement(altitude, airmass, moon_distance, failures)

    def windows(self, usable):
        """Runs of usable slices as (start, end) Time pairs, for one target's booleans."""
        runs, begin = [], None
        for index, ok in enumerate(usable):
            if ok and begin is None:
                begin = index
            if not ok and begin is not None:
                runs.append((self.starts[begin], self.starts[index]))
                begin = None
        if begin is not None:
            runs.append((self.starts[begin], self.edges[-1]))
        return runs


@dataclass
class Judgement:
    """Targets in a site's slices (each array slices × N) and where each constraint fails them."""

    altitude_deg: np.ndarray
    airmass: np.ndarray
    moon_distance_deg: np.ndarray
    failures: dict  # {reason: slices × N booleans}

    @property
    def usable(self):
        return ~np.logical_or.reduce(list(self.failures.values()))

    def of(self, index):
        """The same for the one target ``index``: arrays of slices."""
        return Judgement(self.altitude_deg[:, index], self.airmass[:, index], self.moon_distance_deg[:, index],
                         {reason: failing[:, index] for reason, failing in self.failures.items()})  # fmt: skip


def why_never(sky, ra_deg, dec_deg, constraints):
    """Why a target is not observable from ``sky``'s site in any of its slices (one sentence
    for the astronomer), or "" when it is in some."""
    judged = sky.judge([ra_deg], [dec_deg], constraints).of(0)
    if judged.usable.any():
        return ""
    altitude, airmass, moon_distance = judged.altitude_deg, judged.airmass, judged.moon_distance_deg
    dark = sky.dark
    site = sky.site.name
    if not dark.any():
        return f"the Sun never sets below {SUN_MAX_ALTITUDE_DEG:g}° at {site} in this window (no astronomical night)"
    highest = altitude[dark].max()
    if highest < sky.site.horizon_limit_deg:
        return (f"it never rises above {sky.site.horizon_limit_deg:g}° (the site's horizon limit) at {site} during "
                f"the night in this window: at most {highest:.1f}°")  # fmt: skip
    best_airmass = airmass[dark].min()
    if best_airmass > constraints.max_airmass:
        return (f"its airmass is never below {constraints.max_airmass:g} at {site} during the night in this "
                f"window: at best {best_airmass:.2f} (altitude {highest:.1f}°)")  # fmt: skip
    high = dark & (altitude >= sky.site.horizon_limit_deg) & (airmass <= constraints.max_airmass)
    if judged.failures["Moon too close"][high].all():
        return (f"the Moon is within {constraints.min_lunar_distance_deg:g}° of it whenever it is high enough at "
                f"{site} (closest approach {moon_distance[high].min():.1f}°)")  # fmt: skip
    return (f"the Moon is brighter than {constraints.max_lunar_illumination:.0%} lit whenever it is high enough at "
            f"{site} (the Moon is {sky.moon_illumination[high].min():.0%} lit or more)")  # fmt: skip
