"""Where and with what a tenant observes: sites, telescopes, instruments and their filters."""

import fnmatch
import re
import zoneinfo

from astropy import units as u
from astropy.coordinates import EarthLocation
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .tenancy import TenantOwned


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name such as 'Atlantic/Canary'.")


class Site(TenantOwned):
    code = models.SlugField(max_length=20, help_text="Short code used in frame headers, e.g. 'tfn'.")
    name = models.CharField(max_length=200)
    latitude_deg = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude_deg = models.FloatField(
        validators=[MinValueValidator(-180), MaxValueValidator(180)], help_text="East positive."
    )
    height_m = models.FloatField(validators=[MinValueValidator(-500), MaxValueValidator(9000)])
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone], default="UTC")
    horizon_limit_deg = models.FloatField(
        default=15.0,
        validators=[MinValueValidator(0), MaxValueValidator(89)],
        help_text="Lowest altitude the site's telescopes can point to.",
    )
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"],
                name="site_code_unique_per_tenant",
                violation_error_message="code: this observatory already has a site with this code.",
            )
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def earth_location(self):
        return EarthLocation.from_geodetic(
            lon=self.longitude_deg * u.deg, lat=self.latitude_deg * u.deg, height=self.height_m * u.m
        )


class Telescope(TenantOwned):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="telescopes")
    code = models.SlugField(max_length=20)
    name = models.CharField(max_length=200)
    aperture_m = models.FloatField(validators=[MinValueValidator(0.01), MaxValueValidator(50)])
    field_of_view_arcmin = models.FloatField(validators=[MinValueValidator(0.01), MaxValueValidator(60 * 60)])
    pixel_scale_arcsec = models.FloatField(validators=[MinValueValidator(0.001), MaxValueValidator(600)])
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "code"],
                name="telescope_code_unique_per_site",
                violation_error_message="code: this site already has a telescope with this code.",
            )
        ]
        ordering = ["site__name", "name"]

    def __str__(self):
        return f"{self.name} ({self.site.code})"

    def clean(self):
        if self.site_id and self.tenant_id and self.site.tenant_id != self.tenant_id:
            raise ValidationError({"site": "The site belongs to another tenant."})


class Instrument(TenantOwned):
    class Kind(models.TextChoices):
        IMAGER = "imager", "Imager"
        SPECTROGRAPH = "spectrograph", "Spectrograph"

    telescope = models.ForeignKey(Telescope, on_delete=models.CASCADE, related_name="instruments")
    code = models.SlugField(max_length=30, help_text="Matches the INSTRUME header keyword.")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.IMAGER)
    detector_width_px = models.PositiveIntegerField(default=2048)
    detector_height_px = models.PositiveIntegerField(default=2048)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["telescope", "code"],
                name="instrument_code_unique_per_telescope",
                violation_error_message="code: this telescope already has an instrument with this code.",
            )
        ]
        ordering = ["telescope__name", "name"]

    def __str__(self):
        return f"{self.name} on {self.telescope.name}"


class Filter(TenantOwned):
    """A filter in an instrument's wheel; names follow the FILTER header keyword."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="filters")
    name = models.CharField(max_length=30)
    system = models.CharField(max_length=30, blank=True, help_text="Photometric system, e.g. SDSS or Johnson.")
    central_wavelength_nm = models.FloatField(validators=[MinValueValidator(100), MaxValueValidator(30000)])
    bandwidth_nm = models.FloatField(validators=[MinValueValidator(0.1), MaxValueValidator(10000)])
    zero_point_mag = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(40)],
        help_text="Magnitude of 1 ADU/s through this filter (the site's calibration), used when a frame's "
        "header has no zero point.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "name"],
                name="filter_name_unique_per_instrument",
                violation_error_message="name: this instrument already has a filter with this name.",
            )
        ]
        ordering = ["central_wavelength_nm"]

    def __str__(self):
        return self.name


FITS_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$|^[A-Z0-9_-]+( [A-Z0-9_-]+)+$")


class HeaderRule(TenantOwned):
    """How one site's FITS headers name its equipment, or say when a frame was taken, when they
    do not use the portal's codes or the standard keywords.

    Sites write whatever their control software writes (TELESCOP = 'LCO 1m0-08', INSTRUME =
    'fa03', FILTER = 'rp'); a rule maps a header value, matched as a case-insensitive
    shell-style pattern, to the telescope, instrument or filter it means. Some files name
    their telescope only in another keyword (an HST file's INSTRUME = 'WFPC2'): ``read_from``
    matches the pattern against that keyword instead. A DATE-OBS rule says which keyword
    holds the start of the exposure, and in which format, for the site's frames whose
    TELESCOP matches its pattern; a REQNUM rule says which keyword holds the number of the
    observation request a frame was taken for (LCO's REQNUM by default). Frames whose headers
    match no rule are matched on the codes and names themselves, and timed by the standard
    conventions.
    """

    class Keyword(models.TextChoices):
        TELESCOP = "TELESCOP", "TELESCOP → telescope"
        INSTRUME = "INSTRUME", "INSTRUME → instrument"
        FILTER = "FILTER", "FILTER → filter name"
        DATE_OBS = "DATE-OBS", "DATE-OBS → observation time (which keyword, which format)"
        REQNUM = "REQNUM", "REQNUM → the observation request it was taken for (which keyword holds its number)"

    class TimeFormat(models.TextChoices):
        ISO = "iso", "ISO 8601 date and time, e.g. 2026-03-14T22:10:00 (a date alone: the time from TIME-OBS/UT)"
        DMY = "dmy", "dd/mm/yy date, e.g. 14/03/96 (the time from TIME-OBS/UT)"
        TIME = "time", "time of day hh:mm:ss (the date from DATE-OBS)"
        MJD = "mjd", "Modified Julian Date, e.g. 61113.92361"
        JD = "jd", "Julian Date, e.g. 2461114.42361"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="header_rules")
    keyword = models.CharField(max_length=8, choices=Keyword.choices)
    pattern = models.CharField(
        max_length=100,
        help_text="The header value, case-insensitive; * and ? match any text, e.g. 'LCO 1m0-*'. For DATE-OBS "
        "and REQNUM rules: the TELESCOP values of the frames it applies to ('*' for all of the site's).",
    )
    read_from = models.CharField(
        max_length=60,
        blank=True,
        help_text="The header keyword to read instead: for TELESCOP, INSTRUME and FILTER rules the keyword the "
        "pattern is matched against (e.g. INSTRUME, or ESO DET NAME for a HIERARCH card); for DATE-OBS rules "
        "the keyword holding the observation's start (e.g. UTSTART).",
    )
    time_format = models.CharField(
        max_length=4,
        choices=TimeFormat.choices,
        blank=True,
        help_text="For DATE-OBS rules: how that keyword writes the time.",
    )
    telescope = models.ForeignKey(
        Telescope, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="For TELESCOP rules."
    )
    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="For INSTRUME rules."
    )
    filter_name = models.CharField(max_length=30, blank=True, help_text="For FILTER rules: the filter's name.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "keyword", "pattern"],
                name="header_rule_once_per_site",
                violation_error_message="pattern: this site already has a rule for this keyword and pattern.",
            )
        ]
        ordering = ["site__name", "keyword", "pattern"]

    def __str__(self):
        read = f" in {self.read_from}" if self.read_from and self.keyword in self.EQUIPMENT else ""
        return f"{self.site.code}: {self.keyword} '{self.pattern}'{read} → {self.maps_to}"

    EQUIPMENT = (Keyword.TELESCOP, Keyword.INSTRUME, Keyword.FILTER)

    @property
    def maps_to(self):
        if self.keyword == self.Keyword.REQNUM:
            return f"request number in {self.read_from}"
        if self.keyword == self.Keyword.DATE_OBS:
            return f"{self.read_from} as {self.get_time_format_display().split(',')[0]}"
        return {"TELESCOP": self.telescope, "INSTRUME": self.instrument, "FILTER": self.filter_name}[self.keyword]

    def matches(self, value):
        return fnmatch.fnmatchcase(value.strip().lower(), self.pattern.strip().lower())

    def clean(self):
        self.read_from = " ".join(self.read_from.upper().removeprefix("HIERARCH ").split())
        errors = {}
        if self.read_from and not FITS_KEYWORD.match(self.read_from):
            errors["read_from"] = (f"'{self.read_from}' is not a FITS keyword: up to 8 letters, digits, '-' or '_' "
                                   "(e.g. UTSTART), or the words of a HIERARCH card (e.g. ESO DET NAME).")  # fmt: skip
        if self.keyword == self.Keyword.DATE_OBS:
            errors.update(self._clean_time_rule())
        elif self.keyword == self.Keyword.REQNUM:
            errors.update(self._clean_request_rule())
        else:
            errors.update(self._clean_equipment_rule())
        if errors:
            raise ValidationError(errors)

    def _clean_time_rule(self):
        errors = {
            field: f"a DATE-OBS rule says where the time is, it does not map to a {field.replace('_', ' ')}."
            for field, value in (("telescope", self.telescope_id), ("instrument", self.instrument_id),
                                 ("filter_name", self.filter_name))
            if value
        }  # fmt: skip
        if not self.read_from:
            errors["read_from"] = "say which keyword holds the observation's start, e.g. UTSTART or MJD-STR."
        if not self.time_format:
            errors["time_format"] = (f"say how {self.read_from or 'that keyword'} writes the time: ISO date and time, "
                                     "dd/mm/yy, time of day, MJD or JD.")  # fmt: skip
        return errors

    def _clean_request_rule(self):
        errors = {
            field: f"a REQNUM rule says where the request number is, it does not map to a {field.replace('_', ' ')}."
            for field, value in (("telescope", self.telescope_id), ("instrument", self.instrument_id),
                                 ("filter_name", self.filter_name), ("time_format", self.time_format))
            if value
        }  # fmt: skip
        if not self.read_from:
            errors["read_from"] = "say which keyword holds the request number, e.g. REQNUM or REQUEST."
        return errors

    def _clean_equipment_rule(self):
        wanted = {"TELESCOP": "telescope", "INSTRUME": "instrument", "FILTER": "filter_name"}[self.keyword]
        errors = {
            field: f"a {self.keyword} rule maps to a {wanted.replace('_', ' ')}, not a {field.replace('_', ' ')}."
            for field, value in (("telescope", self.telescope_id), ("instrument", self.instrument_id),
                                 ("filter_name", self.filter_name))
            if field != wanted and value
        }  # fmt: skip
        if self.time_format:
            errors["time_format"] = f"only DATE-OBS rules have a time format; a {self.keyword} rule maps a value."
        if not {"telescope": self.telescope_id, "instrument": self.instrument_id, "filter_name": self.filter_name}[
            wanted
        ]:
            errors[wanted] = f"say which {wanted.replace('_', ' ')} '{self.pattern}' means."
        if self.site_id and self.telescope_id and self.telescope.site_id != self.site_id:
            errors["telescope"] = f"{self.telescope} is not at {self.site}."
        if self.site_id and self.instrument_id and self.instrument.telescope.site_id != self.site_id:
            errors["instrument"] = f"{self.instrument} is not at {self.site}."
        return errors
