"""Where and with what a tenant observes: sites, telescopes, instruments and their filters."""

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
