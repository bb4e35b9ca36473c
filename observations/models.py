"""Targets: what the array points at, stored in ICRS degrees with a HEALPix index for cone search."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from portal.models import TenantOwned


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private (only me)"
    TENANT = "tenant", "My observatory"
    PUBLIC = "public", "Everyone"


class Target(TenantOwned):
    class Kind(models.TextChoices):
        GALAXY = "galaxy", "Galaxy"
        STAR = "star", "Star"
        VARIABLE = "variable", "Variable star"
        TRANSIENT = "transient", "Transient"
        QSO = "qso", "Quasar / AGN"
        CLUSTER = "cluster", "Star cluster"
        NEBULA = "nebula", "Nebula"
        SOLAR_SYSTEM = "solar_system", "Solar system"
        OTHER = "other", "Other"

    name = models.CharField(max_length=100)
    aliases = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    ra_deg = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(360)])
    dec_deg = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    pm_ra_cosdec_mas_yr = models.FloatField(default=0.0, help_text="Proper motion in RA × cos(Dec), mas/yr.")
    pm_dec_mas_yr = models.FloatField(default=0.0)
    epoch_jyear = models.FloatField(default=2000.0, help_text="Epoch of the position, Julian years.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TENANT)
    healpix = models.BigIntegerField(editable=False, help_text="Nested HEALPix index at order 16 (about 3.2″).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="target_name_unique_per_tenant",
                violation_error_message="name: this observatory already has a target with this name.",
            )
        ]
        indexes = [
            models.Index(fields=["healpix"], name="target_healpix"),
            models.Index(fields=["tenant", "kind"], name="target_tenant_kind"),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        from .sky import healpix_index

        self.healpix = int(healpix_index(self.ra_deg, self.dec_deg))
        super().save(*args, **kwargs)
