"""Alerts: detections on difference images as brokers send them (ZTF and Rubin packets), the
objects they belong to, and the packets that could not be stored.

An alert's id comes from one sequence, so ids only grow in arrival order: a dashboard that
reconnects asks for every alert after the last id it saw and misses none.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone

from portal.models import TenantOwned
from portal.plugins import plugin, plugins

from .validators import validate_webhook_destination
from .webhook_policy import SCHEMES


class Source(models.TextChoices):
    STREAM = "stream", "Broker stream"
    FILE = "file", "Avro file"
    REST = "rest", "REST API"
    INTERNAL = "internal", "Internal difference imaging"


class AlertObject(TenantOwned):
    """Everything detected at one position under one broker name (ZTF's objectId), linked on
    first sight to the observatory's target there, or to a new transient target."""

    object_id = models.CharField(max_length=64, help_text="The broker's name for the object, e.g. ZTF21aaxtctv.")
    target = models.ForeignKey(
        "observations.Target", null=True, on_delete=models.SET_NULL, related_name="alert_objects"
    )
    ra_deg = models.FloatField(help_text="Position of the first detection, ICRS degrees.")
    dec_deg = models.FloatField()
    first_mjd = models.FloatField()
    last_mjd = models.FloatField()
    detections = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "object_id"], name="alert_object_unique_per_tenant")]

    def __str__(self):
        return self.object_id


class Alert(TenantOwned):
    """One candidate: where and how bright, when and in which band, the broker's own
    real-bogus score, the history the packet carried, and its three stamps (gzipped FITS:
    ZTF's as sent, Rubin's plain cutouts gzipped on arrival; empty where the packet had none)."""

    id = models.BigAutoField(primary_key=True)
    alert_object = models.ForeignKey(AlertObject, on_delete=models.CASCADE, related_name="alerts")
    candidate_id = models.BigIntegerField(help_text="The broker's candidate id (ZTF's candid): one alert each.")
    source = models.CharField(max_length=10, choices=Source.choices)
    origin = models.CharField(max_length=200, blank=True, help_text="Stream topic, file name or API key it came from.")
    ra_deg = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(360)])
    dec_deg = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    observed_at = models.DateTimeField()
    mjd = models.FloatField()
    band = models.CharField(max_length=10)
    magnitude = models.FloatField(help_text="PSF-fit magnitude on the difference image.")
    magnitude_error = models.FloatField()
    positive = models.BooleanField(default=True, help_text="Brighter than the template (ZTF's isdiffpos).")
    broker_real_bogus = models.FloatField(null=True, blank=True, help_text="The broker's real-bogus score, 0 to 1.")
    history = models.JSONField(
        default=list, blank=True, help_text="Earlier detections the packet carried: mjd, band, magnitude, error."
    )
    science_stamp = models.BinaryField()
    template_stamp = models.BinaryField()
    difference_stamp = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "candidate_id"], name="alert_candidate_unique")]
        indexes = [models.Index(fields=["tenant", "-id"], name="alert_newest"),
                   models.Index(fields=["alert_object", "mjd"], name="alert_object_history")]  # fmt: skip
        ordering = ["-id"]

    def __str__(self):
        return f"{self.alert_object_id}/{self.candidate_id}"


class PendingAlert(TenantOwned):
    """An alert stored and not yet sent out to the live feed: what classifier runs take.

    A table of its own so that an alert row is written once and never updated. Marking the
    alert itself as sent rewrote the row and its five index entries (a column in an index's
    condition rules out PostgreSQL's in-place "HOT" update); at 100 alerts a second the dead
    versions brought autovacuum runs that held up the feed. Here sending deletes a small row."""

    alert = models.OneToOneField(Alert, primary_key=True, on_delete=models.CASCADE, related_name="pending")


class DeadLetter(TenantOwned):
    """A packet that could not be stored, with why; admins see these, the stream carries on."""

    source = models.CharField(max_length=10, choices=Source.choices)
    origin = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    candidate_id = models.BigIntegerField(null=True, blank=True)
    payload = models.BinaryField(blank=True, help_text="The packet as received, cut at 64 KiB.")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-received_at"], name="dead_letter_newest")]
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.get_source_display()} {self.origin}: {self.reason[:80]}"


def stream_kind_choices():
    """The kinds of stream there are: ``settings.ALERT_STREAM_KINDS`` (see streams.StreamKind)."""
    return [(key, kind.label) for key, kind in plugins("ALERT_STREAM_KINDS").items()]


class AlertStream(TenantOwned):
    """Where an observatory's alerts come from: a broker's Kafka topic, or a folder of Avro
    files replayed at a steady rate (the embedded default, and a way to re-run a night), or
    any other kind named in ``settings.ALERT_STREAM_KINDS``."""

    name = models.SlugField(max_length=60)
    kind = models.CharField(max_length=10, choices=stream_kind_choices)
    bootstrap_servers = models.CharField(max_length=500, blank=True, help_text="Kafka brokers, host:port, commas.")
    topic = models.CharField(max_length=200, blank=True, help_text="Kafka topic, e.g. ztf_20261130_programid1.")
    options = models.JSONField(
        default=dict, blank=True, help_text="More librdkafka settings, e.g. security.protocol, sasl.mechanisms."
    )
    folder = models.CharField(max_length=500, blank=True, help_text="Replay: the folder of .avro files.")
    rate_per_s = models.FloatField(default=10.0, validators=[MinValueValidator(0.01)],
                                   help_text="Replay: alerts a second.")  # fmt: skip
    enabled = models.BooleanField(default=True)
    received = models.PositiveBigIntegerField(default=0)
    replayed_file = models.CharField(
        max_length=255, blank=True, help_text="Replay: the file it stands in; clear it to replay the folder again."
    )
    replayed_count = models.PositiveIntegerField(default=0, help_text="Replay: packets of that file already handled.")
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="alert_stream_unique_per_tenant"),
            models.CheckConstraint(
                condition=(~models.Q(kind="kafka") | (~models.Q(bootstrap_servers="") & ~models.Q(topic="")))
                & (~models.Q(kind="replay") | ~models.Q(folder="")),
                name="alert_stream_has_its_source",
                violation_error_message="A Kafka stream needs brokers and a topic; a replay needs a folder.",
            ),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def settings(self):
        """What a running consumer was started with: when an admin changes it, it restarts."""
        return (self.kind, self.bootstrap_servers, self.topic, self.options, self.folder, self.rate_per_s)

    @property
    def stream_kind(self):
        """What reads it (a streams.StreamKind), or None for a kind no longer configured."""
        return plugin("ALERT_STREAM_KINDS", self.kind)

    @property
    def source(self):
        """What its alerts and dead letters record as their source."""
        return self.stream_kind.source

    @property
    def origin(self):
        """How its alerts and dead letters name where they came from."""
        return self.stream_kind.origin(self)


class AlertClassification(TenantOwned):
    """What one model version said about one alert — real or bogus from its stamps, or the
    kind of object from its light curve — or why it could not say. One row per (alert,
    version): running a version again replaces its answer."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="classifications")
    version = models.ForeignKey("mlmodels.ModelVersion", on_delete=models.CASCADE, related_name="alert_classifications")
    label = models.CharField(max_length=60, blank=True, help_text="The most probable class; empty when refused.")
    probabilities = models.JSONField(default=dict, help_text="class -> probability.")
    refusal = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "alert"], name="alert_classified_once_per_version")]

    def __str__(self):
        return f"{self.version}: {self.label or 'refused'}"


FILTER_NAME_TAKEN = "you already have a filter with this name"


class AlertFilter(TenantOwned):
    """An astronomer's standing question about new alerts (see alerts.filters for the
    conditions); matches reach their dashboards live."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_filters")
    name = models.CharField(max_length=100)
    conditions = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    webhook_url = models.URLField(
        blank=True, max_length=500, validators=[URLValidator(schemes=SCHEMES)],
        help_text="Matches are also POSTed here, signed with the filter's secret.",
    )  # fmt: skip
    webhook_secret = models.CharField(max_length=64, blank=True, editable=False)
    auto_follow_up = models.BooleanField(
        default=False, help_text="Every match asks for follow-up of its target (a target-of-opportunity request)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "name"], name="alert_filter_name_unique_per_user",
                violation_error_message=f"name: {FILTER_NAME_TAKEN}.",
            )
        ]  # fmt: skip
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.webhook_url and not self.webhook_secret:
            self.webhook_secret = secrets.token_hex(32)  # what the receiver checks signatures with
        super().save(*args, **kwargs)

    def clean(self):
        from .filters import FilterInvalid, check_targets, clean_conditions

        try:
            self.conditions = clean_conditions(self.conditions)
            check_targets(self.conditions, self.tenant_id)
        except FilterInvalid as error:
            raise ValidationError({"conditions": str(error)}) from error
        try:
            validate_webhook_destination(self.webhook_url)
        except ValidationError as error:
            raise ValidationError({"webhook_url": error}) from error


def validate_filter_name(tenant, user, name, *, excluding=None, message=FILTER_NAME_TAKEN):
    """ValidationError when ``user`` already has another filter called ``name`` in ``tenant``
    (``excluding``: the id of the filter being changed): the dashboard's menu, the filter list
    and a webhook's payload tell a user's filters apart by name. The page's form and the API
    check it here before saving, each saying it in its own style (``message``); the constraint
    above stands behind it when two saves race, and says it with the field named."""
    mine = AlertFilter.objects.filter(tenant=tenant, user=user, name=name)
    if excluding is not None:
        mine = mine.exclude(pk=excluding)
    if mine.exists():
        raise ValidationError(message, code="unique")


class FilterMatch(TenantOwned):
    """An alert that met a filter: the feed of that filter, and what a reconnecting
    dashboard is sent again."""

    alert_filter = models.ForeignKey(AlertFilter, on_delete=models.CASCADE, related_name="matches")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="filter_matches")
    matched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Its index is also the feed's: a filter's matches in alert order.
        constraints = [models.UniqueConstraint(fields=["alert_filter", "alert"], name="filter_match_once")]


class WebhookDelivery(TenantOwned):
    """One POST of a filter's matches to its webhook: what was sent, and how it went. Failed
    attempts are retried with growing pauses; the filter's owner reads the outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    alert_filter = models.ForeignKey(AlertFilter, on_delete=models.CASCADE, related_name="deliveries")
    url = models.URLField(max_length=500)
    alert_ids = models.JSONField(default=list)
    payload = models.BinaryField(help_text="The exact body sent (and signed).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["alert_filter", "-created_at"], name="webhook_delivery_newest")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.alert_filter} → {self.url}: {self.status}"


class AlertFollowUp(TenantOwned):
    """The alerts side of a follow-up request (``scheduling.FollowUpRequest``, which scheduling
    owns with its states): the alert that asked, and the filter whose rule asked, if one did."""

    request = models.OneToOneField("scheduling.FollowUpRequest", on_delete=models.CASCADE, related_name="from_alert")
    alert = models.ForeignKey(Alert, null=True, on_delete=models.SET_NULL, related_name="follow_ups")
    rule = models.ForeignKey(
        AlertFilter, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups",
        help_text="The filter whose rule asked for it.",
    )  # fmt: skip

    def __str__(self):
        return f"{self.request} from alert {self.alert_id}"
