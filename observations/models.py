"""Targets: what the array points at, stored in ICRS degrees with a HEALPix index for cone search."""

from pathlib import Path

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
            # Covering: a cone's candidates are tested (position, and the tenant and visibility
            # that row-level security reads) from the index alone; only matches visit the table.
            models.Index(
                fields=["healpix"], include=["id", "ra_deg", "dec_deg", "tenant", "visibility"], name="target_sky"
            ),
            models.Index(fields=["tenant", "kind"], name="target_tenant_kind"),
            # The API's list order: a page is read off the index and stops at its last row,
            # where it was a sort of every visible target.
            models.Index(fields=["name", "id"], name="target_list_order"),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        from .sky import healpix_index

        self.healpix = int(healpix_index(self.ra_deg, self.dec_deg))
        super().save(*args, **kwargs)


def frame_upload_path(frame, filename):
    return f"frames/{frame.tenant_id}/{frame.sha256[:2]}/{frame.sha256}{frame.file_suffix}"


def preview_upload_path(frame, filename):
    return f"previews/{frame.tenant_id}/{frame.sha256[:2]}/{frame.sha256}.png"


class Frame(TenantOwned):
    """One FITS image from a site: the file, what its header says, where on the sky it looks."""

    file = models.FileField(upload_to=frame_upload_path, max_length=300)
    file_suffix = models.CharField(max_length=10, default=".fits")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    site = models.ForeignKey("portal.Site", null=True, on_delete=models.SET_NULL, related_name="frames")
    telescope = models.ForeignKey("portal.Telescope", null=True, on_delete=models.SET_NULL, related_name="frames")
    instrument = models.ForeignKey("portal.Instrument", null=True, on_delete=models.SET_NULL, related_name="frames")
    filter_name = models.CharField(max_length=30, blank=True)
    object_name = models.CharField(max_length=100, blank=True)
    obs_time = models.DateTimeField(help_text="Start of the exposure, UTC.")
    mjd_obs = models.FloatField()
    time_source = models.CharField(
        max_length=150, blank=True, help_text="The header keywords the start was read from, and where they are."
    )
    exptime_s = models.FloatField()
    airmass = models.FloatField(null=True)
    gain_e_per_adu = models.FloatField(null=True)
    width_px = models.PositiveIntegerField()
    height_px = models.PositiveIntegerField()
    hdu_index = models.PositiveSmallIntegerField(default=0, help_text="The image HDU used.")
    has_astrometry = models.BooleanField(default=False)
    astrometry_note = models.CharField(
        max_length=300, blank=True, help_text="Why a frame has no astrometry (what its header's WCS lacks)."
    )
    ra_center_deg = models.FloatField(null=True)
    dec_center_deg = models.FloatField(null=True)
    footprint = models.JSONField(default=list, blank=True, help_text="Corners as [[ra, dec], …] in degrees.")
    pixel_scale_arcsec = models.FloatField(null=True)
    header = models.JSONField(default=dict)
    preview = models.FileField(upload_to=preview_upload_path, max_length=300, blank=True)
    targets = models.ManyToManyField(Target, through="FrameTarget", related_name="frames")
    ingested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="frame_sha256_unique_per_tenant")]
        indexes = [models.Index(fields=["tenant", "obs_time"], name="frame_tenant_time")]
        ordering = ["-obs_time"]

    def __str__(self):
        return f"{self.original_name} ({self.obs_time:%Y-%m-%d %H:%M})"


def cutout_upload_path(link, filename):
    return f"cutouts/{link.tenant_id}/{link.frame.sha256[:2]}/{link.frame.sha256}-{link.target_id}.fits"


class FrameTarget(TenantOwned):
    """A target that falls inside a frame, where (0-based pixel position), its cutout and photometry."""

    frame = models.ForeignKey(Frame, on_delete=models.CASCADE, related_name="target_links")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="frame_links")
    x_px = models.FloatField()
    y_px = models.FloatField()
    cutout = models.FileField(upload_to=cutout_upload_path, max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["frame", "target"], name="frame_target_once")]


class Photometry(TenantOwned):
    """Aperture photometry of one target in one frame: a point of the target's light curve."""

    link = models.OneToOneField(FrameTarget, on_delete=models.CASCADE, related_name="photometry")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="photometry")
    mjd = models.FloatField(help_text="Mid-exposure, MJD (UTC).")
    filter_name = models.CharField(max_length=30)
    site = models.ForeignKey("portal.Site", null=True, on_delete=models.SET_NULL, related_name="+")
    aperture_radius_arcsec = models.FloatField()
    flux_adu = models.FloatField(help_text="Background-subtracted flux in the aperture.")
    flux_err_adu = models.FloatField()
    mag = models.FloatField(null=True, help_text="Calibrated, or instrumental when zero_point is null.")
    mag_err = models.FloatField(null=True)
    zero_point = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["target", "mjd"], name="photometry_target_mjd")]
        ordering = ["mjd"]


def target_image_path(image, filename):
    return f"target-images/{image.tenant_id}/{image.target_id}/{image.sha256[:16]}{Path(filename).suffix}"


class TargetImage(TenantOwned):
    """A multi-band cutout centred on a target (a survey image, an upload, a stack): what the
    morphology models classify and "similar galaxies" compares. Frame cutouts are one band of
    one night; these are the colour images a galaxy is judged on."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=target_image_path, max_length=300, help_text="FITS cube (band, y, x).")
    preview = models.FileField(upload_to=target_image_path, max_length=300, help_text="Colour PNG for pages.")
    sha256 = models.CharField(max_length=64)
    bands = ArrayField(models.CharField(max_length=10), help_text="The cube's planes, in order.")
    width_px = models.PositiveIntegerField()
    height_px = models.PositiveIntegerField()
    pixel_scale_arcsec = models.FloatField(null=True)
    source = models.CharField(max_length=100, help_text="Where it came from: a survey, an upload, a stack.")
    site = models.ForeignKey("portal.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["target", "sha256"], name="target_image_once")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.target} ({''.join(self.bands)}, {self.source})"


def fused_image_path(fused, filename):
    return f"fused/{fused.tenant_id}/{fused.target_id}/{fused.pk}-{filename}"


class FusedImage(TenantOwned):
    """One deep image of a target in one band from every usable frame of every site
    (``observations.fusion``), with the frames used and those left out, each with its reason.
    Made by a job; the row exists from the request on, so its page can show the progress."""

    class Method(models.TextChoices):
        INTERP = "interp", "Bilinear interpolation (fast)"
        EXACT = "exact", "Exact overlap areas (flux-conserving, slower)"

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="fused_images")
    band = models.CharField(max_length=30)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.INTERP)
    size_arcsec = models.FloatField(help_text="Side of the square field, arcseconds.")
    pixel_scale_arcsec = models.FloatField(help_text="Of the fused image; the finest frame's unless asked.")
    first_night = models.DateField(null=True, blank=True, help_text="Frames from this UTC date on (all if empty).")
    last_night = models.DateField(null=True, blank=True, help_text="Frames up to this UTC date (all if empty).")
    job = models.OneToOneField("portal.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(upload_to=fused_image_path, max_length=300, blank=True)
    preview = models.FileField(upload_to=fused_image_path, max_length=300, blank=True)
    frames_used = models.JSONField(default=list, blank=True, help_text="[{id, label, weight_share, …}] of each frame.")
    frames_rejected = models.JSONField(default=list, blank=True, help_text="[{id, label, reason}] of each frame.")
    snr = models.FloatField(null=True, blank=True, help_text="The target's signal-to-noise in a 3″ aperture.")
    best_single_snr = models.FloatField(null=True, blank=True, help_text="The same, in the best frame alone.")
    theoretical_snr = models.FloatField(null=True, blank=True, help_text="√(Σ SNRᵢ²) of the frames used.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.target} fused in {self.band}"

    @property
    def download_name(self):
        return f"{self.target.name.replace(' ', '_')}-{self.band}-fused-{self.pk}.fits"

    @property
    def snr_gain(self):
        """How many times the best single frame's signal-to-noise the fusion reached."""
        if self.snr is None or not self.best_single_snr:
            return None
        return self.snr / self.best_single_snr


class PhotometryCalibration(TenantOwned):
    """One run of cross-site calibration of a target's field in one band
    (``observations.calibrated_photometry``): its job, and what it tied. Its frames' fitted
    zero points are its FrameCalibration rows; a later run of the same frames replaces them."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="calibrations")
    band = models.CharField(max_length=30)
    job = models.OneToOneField("portal.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    star_count = models.PositiveIntegerField(null=True, blank=True, help_text="Stars seen from two nights or sites.")
    left_out = models.JSONField(default=list, blank=True, help_text="[{id, label, reason}] of frames not calibrated.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.target} calibrated in {self.band}"


class FrameCalibration(TenantOwned):
    """A frame's zero point as tied to the other sites' by the stars they share
    (``observations.calibration``), fitted per site and night, beside the zero point its
    photometry used (kept as it was). ``zero_point`` is null when the frame's night shared
    too few stars with the others; ``note`` says so."""

    run = models.ForeignKey(PhotometryCalibration, on_delete=models.CASCADE, related_name="frames")
    frame = models.OneToOneField(Frame, on_delete=models.CASCADE, related_name="calibration")
    site = models.ForeignKey("portal.Site", null=True, on_delete=models.SET_NULL, related_name="+")
    night = models.DateField(help_text="The site's night (local date of its evening) the zero point was fitted for.")
    zero_point = models.FloatField(null=True, help_text="Fitted, magnitude of 1 ADU a second.")
    zero_point_error = models.FloatField(null=True)
    zero_point_own = models.FloatField(null=True, help_text="What the frame's header or its site's filter said.")
    stars_used = models.PositiveIntegerField()
    note = models.CharField(max_length=200)
    colour = models.CharField(max_length=20, blank=True, help_text="The colour index of the colour term, e.g. g-r.")
    colour_term = models.FloatField(
        null=True, blank=True, help_text="How much fainter its site reads a star per magnitude of colour past the "
        "reference (relative to the sites' mean system); null where the stars' colours allowed none.",
    )  # fmt: skip
    colour_term_error = models.FloatField(null=True, blank=True)
    colour_reference = models.FloatField(null=True, blank=True, help_text="The colour the zero point holds for.")

    class Meta:
        ordering = ["frame__obs_time"]

    @property
    def offset(self):
        """How far the frame's own zero point was off: fitted minus own, in magnitudes."""
        if self.zero_point is None or self.zero_point_own is None:
            return None
        return self.zero_point - self.zero_point_own


class CalibratedPhotometry(TenantOwned):
    """A target's magnitude in one frame on the cross-site scale: the raw measurement's
    instrumental magnitude plus the frame's fitted zero point, its error including the zero
    point's. The raw Photometry row is never changed."""

    photometry = models.OneToOneField(Photometry, on_delete=models.CASCADE, related_name="calibrated")
    calibration = models.ForeignKey(FrameCalibration, on_delete=models.CASCADE, related_name="photometry")
    mag = models.FloatField()
    mag_err = models.FloatField()
    colour = models.FloatField(
        null=True, blank=True, help_text="The target's colour its site's colour term was applied for (null: none)."
    )
