"""Where and with what a tenant observes: sites, telescopes, instruments and their filters."""

import fnmatch
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


class HeaderRule(TenantOwned):
    """How one site's FITS headers name its equipment when they do not use the portal's codes.

    Sites write whatever their control software writes (TELESCOP = 'LCO 1m0-08', INSTRUME =
    'fa03', FILTER = 'rp'); a rule maps a header value, matched as a case-insensitive
    shell-style pattern, to the telescope, instrument or filter it means. Frames whose
    headers match no rule are matched on the codes and names themselves.
    """

    class Keyword(models.TextChoices):
        TELESCOP = "TELESCOP", "TELESCOP → telescope"
        INSTRUME = "INSTRUME", "INSTRUME → instrument"
        FILTER = "FILTER", "FILTER → filter name"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="header_rules")
    keyword = models.CharField(max_length=8, choices=Keyword.choices)
    pattern = models.CharField(
        max_length=100, help_text="The header value, case-insensitive; * and ? match any text, e.g. 'LCO 1m0-*'."
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
        return f"{self.site.code}: {self.keyword} '{self.pattern}' → {self.maps_to}"

    @property
    def maps_to(self):
        return {"TELESCOP": self.telescope, "INSTRUME": self.instrument, "FILTER": self.filter_name}[self.keyword]

    def matches(self, value):
        return fnmatch.fnmatchcase(value.strip().lower(), self.pattern.strip().lower())

    def clean(self):
        wanted = {"TELESCOP": "telescope", "INSTRUME": "instrument", "FILTER": "filter_name"}[self.keyword]
        errors = {
            field: f"a {self.keyword} rule maps to a {wanted.replace('_', ' ')}, not a {field.replace('_', ' ')}."
            for field, value in (("telescope", self.telescope_id), ("instrument", self.instrument_id),
                                 ("filter_name", self.filter_name))
            if field != wanted and value
        }  # fmt: skip
        if not {"telescope": self.telescope_id, "instrument": self.instrument_id, "filter_name": self.filter_name}[
            wanted
        ]:
            errors[wanted] = f"say which {wanted.replace('_', ' ')} '{self.pattern}' means."
        if self.site_id and self.telescope_id and self.telescope.site_id != self.site_id:
            errors["telescope"] = f"{self.telescope} is not at {self.site}."
        if self.site_id and self.instrument_id and self.instrument.telescope.site_id != self.site_id:
            errors["instrument"] = f"{self.instrument} is not at {self.site}."
        if errors:
            raise ValidationError(errors)
