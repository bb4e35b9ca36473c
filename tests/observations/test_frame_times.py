"""When a frame was taken, from every convention real headers use, and which one was read."""

import pytest
from astropy.io import fits
from astropy.time import Time

from observations.fits import FrameRejected
from observations.fits_headers import FrameHeader, observation_time
from portal.models import HeaderRule


def header(primary=None, image=None):
    """A two-HDU file's headers: the image in HDU 1 with the given cards, the primary with no data."""
    return FrameHeader.of(fits.Header(list((image or {}).items())), 1, fits.Header(list((primary or {}).items())))


def utc(iso):
    return Time(iso, scale="utc")


@pytest.mark.parametrize(
    "primary, image, expected, source",
    [
        ({}, {"DATE-OBS": "2026-03-14T22:10:00.5"}, "2026-03-14T22:10:00.5", "DATE-OBS (HDU 1 header)"),
        ({"DATE-OBS": "2026-03-14 22:10:00Z"}, {}, "2026-03-14T22:10:00", "DATE-OBS (primary header)"),
        ({"DATE-OBS": "1998-04-20", "TIME-OBS": "18:38:15"}, {}, "1998-04-20T18:38:15",
         "DATE-OBS + TIME-OBS (primary header)"),
        ({"DATE-OBS": "19/05/94", "TIME-OBS": "15:41:16"}, {}, "1994-05-19T15:41:16",
         "DATE-OBS + TIME-OBS (primary header)"),
        ({"DATE-OBS": "11/03/76"}, {"UT": "17:38:00.00"}, "1976-03-11T17:38:00",
         "DATE-OBS (primary header) + UT (HDU 1 header)"),
        ({"DATE-OBS": "2026-03-14", "UTSTART": "22:10:05"}, {}, "2026-03-14T22:10:05",
         "DATE-OBS + UTSTART (primary header)"),
        ({}, {"DATE-BEG": "2026-03-14T22:10:00", "DATE-OBS": "2026-03-14T23:00:00"}, "2026-03-14T22:10:00",
         "DATE-BEG (HDU 1 header)"),
        ({}, {"MJD-OBS": 61113.92361111}, "2026-03-14T22:10:00", "MJD-OBS (HDU 1 header)"),
        ({"DATE-OBS": "2026-03-14"}, {"MJD-OBS": 61113.92361111}, "2026-03-14T22:10:00", "MJD-OBS (HDU 1 header)"),
        ({"EXPSTART": 49491.65366175}, {}, "1994-05-19T15:41:16.376", "EXPSTART (primary header)"),
        ({"JD": 2461114.42361111}, {}, "2026-03-14T22:10:00", "JD (primary header)"),
        ({"JD-OBS": 2461114.42361111}, {}, "2026-03-14T22:10:00", "JD-OBS (primary header)"),
        ({"DATE_OBS": "2003-12-06T10:46:35.021"}, {}, "2003-12-06T10:46:35.021", "DATE_OBS (primary header)"),
        ({"TIMESYS": "TT"}, {"DATE-OBS": "2026-03-14T22:11:09.184"}, "2026-03-14T22:10:00",
         "DATE-OBS (HDU 1 header), TT → UTC"),
        ({"TIMESYS": "TAI", "MJD-OBS": 61113.92361111 + 37 / 86400}, {}, "2026-03-14T22:10:00",
         "MJD-OBS (primary header), TAI → UTC"),
        ({"TIMESYS": "GPS", "DATE-OBS": "2026-03-14T22:10:18"}, {}, "2026-03-14T22:10:00",
         "DATE-OBS (primary header), GPS → UTC"),
    ],
)  # fmt: skip
def test_each_time_convention_gives_the_start_in_utc_and_names_its_source(primary, image, expected, source):
    found = observation_time(header(primary, image))
    assert abs((found.start - utc(expected)).sec) < 0.01, found.start.isot
    assert found.source == source


def test_a_date_without_a_time_of_day_is_never_taken_for_midnight():
    with pytest.raises(FrameRejected) as refused:
        observation_time(header({"DATE-OBS": "1998-04-20"}))
    assert "DATE-OBS = '1998-04-20' (primary header) gives the day but not the time" in str(refused.value)
    assert "TIME-OBS" in str(refused.value) and "UTSTART" in str(refused.value)


def test_an_extension_with_inherit_false_does_not_take_the_primarys_time():
    headers = FrameHeader.of(fits.Header([("INHERIT", False)]), 1, fits.Header([("DATE-OBS", "2026-03-14T22:10:00")]))
    with pytest.raises(FrameRejected, match="no DATE-OBS, DATE-BEG, MJD-OBS, EXPSTART or JD keyword"):
        observation_time(headers)
    primary_with_data = fits.Header([("NAXIS", 2), ("DATE-OBS", "2026-03-14T22:10:00")])
    assert FrameHeader.of(fits.Header(), 1, primary_with_data).primary is None, "no INHERIT, and a primary with data"


@pytest.mark.parametrize(
    "cards, message",
    [
        ({"DATE-OBS": "yesterday"}, "DATE-OBS = 'yesterday' (primary header) is not a date and time"),
        ({"DATE-OBS": "31/02/99", "TIME-OBS": "10:00:00"}, "1999-02-31, which is not a date"),
        ({"DATE-OBS": "2026-03-14", "UT": "25:00:00"}, "UT = '25:00:00' (primary header) is not a time of day"),
        ({"MJD-OBS": "soon"}, "MJD-OBS = 'soon' (primary header) is not a number"),
        ({"TIMESYS": "MARS", "MJD-OBS": 61113.9}, "TIMESYS = 'MARS' is not a time scale"),
    ],
)  # fmt: skip
def test_a_time_that_cannot_be_read_is_refused_saying_which_keyword(cards, message):
    with pytest.raises(FrameRejected, match=message.replace("(", r"\(").replace(")", r"\)")):
        observation_time(header(cards))


@pytest.mark.parametrize(
    "read_from, form, cards, expected, source",
    [
        ("UTSTART", "iso", {"UTSTART": "2026-03-14T22:10:00", "DATE-OBS": "2020-01-01T00:00:00"},
         "2026-03-14T22:10:00", "UTSTART as ISO date and time, by header rule (primary header)"),
        ("OBSDATE", "dmy", {"OBSDATE": "14/03/2026", "UT": "22:10:00"}, "2026-03-14T22:10:00",
         "OBSDATE as dd/mm/yy date, by header rule + UT (primary header)"),
        ("START", "time", {"DATE-OBS": "2026-03-14", "START": "22:10:00"}, "2026-03-14T22:10:00",
         "DATE-OBS + START as time of day, by header rule (primary header)"),
        ("MJD-STR", "mjd", {"MJD-STR": 61113.92361111}, "2026-03-14T22:10:00",
         "MJD-STR as MJD, by header rule (primary header)"),
        ("OBSJD", "jd", {"OBSJD": 2461114.42361111}, "2026-03-14T22:10:00",
         "OBSJD as JD, by header rule (primary header)"),
    ],
)  # fmt: skip
def test_a_sites_time_rule_names_the_keyword_and_its_format(read_from, form, cards, expected, source):
    rule = HeaderRule(keyword="DATE-OBS", pattern="*", read_from=read_from, time_format=form)
    found = observation_time(header(cards), rule)
    assert abs((found.start - utc(expected)).sec) < 0.01 and found.source == source
