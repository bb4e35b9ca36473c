"""When a target can be observed: night, horizon, airmass and the Moon, from astropy."""

from types import SimpleNamespace

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, get_body
from astropy.time import Time

from scheduling.visibility import Constraints, SiteSky, why_never

TEIDE = SimpleNamespace(
    name="Teide", horizon_limit_deg=15, earth_location=EarthLocation.from_geodetic(-16.51, 28.30, 2390 * u.m)
)
DECEMBER_NIGHT = ("2026-12-02T18:00", "2026-12-03T08:00")


def test_a_winter_target_is_observable_through_the_night_and_only_in_the_dark():
    sky = SiteSky.over(TEIDE, *DECEMBER_NIGHT)
    usable = sky.usable([83.63], [22.01], Constraints(min_lunar_distance_deg=0))[:, 0]  # M1, the Crab
    (start, end), *others = sky.windows(usable)
    assert not others
    assert Time("2026-12-02T21:00") < start < Time("2026-12-02T23:00"), "once it is above airmass 1.6"
    assert Time("2026-12-03T04:30") < end < Time("2026-12-03T06:30"), "until dawn's astronomical twilight"
    altitude = AltAz(obstime=sky.starts[usable], location=TEIDE.earth_location)
    assert (get_body("sun", sky.starts[usable]).transform_to(altitude).alt.deg < -17.5).all()


def test_why_a_target_is_never_observable_is_said_in_the_astronomers_terms():
    sky = SiteSky.over(TEIDE, *DECEMBER_NIGHT)
    assert why_never(sky, 13.19, -72.83, Constraints()) == (  # the SMC from the Canaries
        "it never rises above 15° (the site's horizon limit) at Teide during the night in this window: at most -11.0°"
    )
    low = why_never(sky, 83.63, -25.0, Constraints(max_airmass=1.2))
    assert low == (
        "its airmass is never below 1.2 at Teide during the night in this window: at best 1.67 (altitude 36.7°)"
    ), "Dec -25° culminates at 90 - (28.3 + 25) = 36.7°"
    day = SiteSky.over(TEIDE, "2026-12-03T10:00", "2026-12-03T16:00")
    assert why_never(day, 83.63, 22.01, Constraints()) == (
        "the Sun never sets below -18° at Teide in this window (no astronomical night)"
    )


@pytest.mark.parametrize(("moment", "lit"), [("2024-04-08T18:20", 0.0), ("2024-04-15T19:13", 0.5),
                                             ("2024-04-23T23:49", 1.0)])  # fmt: skip
def test_the_moons_illumination_follows_its_phases(moment, lit):
    """The 2024 April eclipse's new Moon, first quarter and full Moon (USNO times)."""
    sky = SiteSky.over(TEIDE, moment, Time(moment) + 5 * u.min)
    assert sky.moon_illumination[0] == pytest.approx(lit, abs=0.01)


def test_a_full_moon_keeps_faint_requests_away_and_its_neighbourhood_dark():
    night = ("2024-04-23T20:00", "2024-04-24T06:00")
    sky = SiteSky.over(TEIDE, *night)
    moon = get_body("moon", Time("2024-04-24T01:00"))  # geocentric: seen from Teide it is a degree or so off
    beside = why_never(sky, moon.ra.deg, moon.dec.deg, Constraints(min_lunar_distance_deg=30))
    prefix = "the Moon is within 30° of it whenever it is high enough at Teide (closest approach "
    assert beside.startswith(prefix) and float(beside[len(prefix) :].rstrip("°)")) < 3
    dark_sky = why_never(sky, 150.0, 20.0, Constraints(max_lunar_illumination=0.5))  # Leo, far from the Moon
    assert dark_sky == ("the Moon is brighter than 50% lit whenever it is high enough at Teide "
                        "(the Moon is 100% lit or more)")  # fmt: skip


def test_many_targets_are_judged_at_once_as_each_alone():
    sky = SiteSky.over(TEIDE, *DECEMBER_NIGHT)
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 40), rng.uniform(-40, 80, 40)
    together = sky.usable(ra, dec, Constraints())
    alone = np.column_stack([sky.usable([r], [d], Constraints())[:, 0] for r, d in zip(ra, dec)])
    assert together.shape == (len(sky.starts), 40) and (together == alone).all()
    assert 0 < together.any(axis=0).sum() < 40, "some of the sky is up tonight, not all of it"


def test_the_visibility_chart_draws_the_target_solid_only_where_it_may_be_observed():
    import json

    from scheduling.plots import visibility_figure

    sky = SiteSky.over(TEIDE, *DECEMBER_NIGHT)
    figure = json.loads(visibility_figure([sky], 83.63, 22.01, Constraints(min_lunar_distance_deg=0)))
    traces = {trace["name"]: trace for trace in figure["data"]}
    observable = traces["Teide: observable"]["y"]
    usable = sky.usable([83.63], [22.01], Constraints(min_lunar_distance_deg=0))[:, 0]
    assert [value is not None for value in observable] == usable.tolist() and usable.any() and not usable.all()
    assert len(traces["Teide: altitude"]["x"]) == len(traces["Teide: Sun"]["x"]) == len(sky.starts)


def test_a_part_of_a_longer_sky_is_the_sky_computed_over_that_part():
    """What a re-plan reuses: the day's sky cut to its slices equals the sky computed afresh."""
    start = Time("2026-12-03T13:25:00")
    whole = SiteSky.over(TEIDE, Time("2026-12-03T00:00:00"), Time("2026-12-05T00:00:00"))
    part = whole.part(161, 161 + 288)
    fresh = SiteSky.over(TEIDE, start, start + 1 * u.day)
    assert abs((part.edges[0] - fresh.edges[0]).sec) < 1e-3 and abs((part.edges[-1] - fresh.edges[-1]).sec) < 1e-3
    assert np.allclose(part.sun_altitude_deg, fresh.sun_altitude_deg)
    assert np.allclose(part.moon_illumination, fresh.moon_illumination)
    judged = [sky.judge([10.7, 202.5], [41.3, 47.2], Constraints(), night_only=True) for sky in (part, fresh)]
    assert (judged[0].usable == judged[1].usable).all() and judged[0].usable.any()
