"""Scheduling: what the array is asked to observe, and when.

Two ways in: proposals, reviewed and granted hours per semester and telescope class, whose
request groups hold requests (a target, instrument configurations, constraints and time
windows), after LCO's observation portal; and follow-up requests — targets of opportunity
another app asks for (an alert's panel or a filter's rule in ``alerts``). Scheduling owns
both and their states; its scheduler takes them into each telescope's queue.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from portal.models import TenantOwned


class FollowUpRequest(TenantOwned):
    """A request to observe a target soon: a target of opportunity. It waits, pending, for the
    scheduler to take it into a telescope's queue; a target has at most one pending request."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        OBSERVED = "observed", "Observed"
        DECLINED = "declined", "Declined"

    class Priority(models.TextChoices):
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        TOP = "top", "Top (target of opportunity)"

    target = models.ForeignKey("observations.Target", on_delete=models.CASCADE, related_name="follow_up_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="follow_up_requests")  # fmt: skip
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.TOP)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "target"],
                condition=models.Q(status="pending"),
                name="one_pending_follow_up_request_per_target",
            )  # fmt: skip
        ]
        ordering = ["-created_at"]

    def __str__(self):
        return f"follow-up of {self.target} ({self.get_status_display().lower()})"


def telescope_class(aperture_m):
    """A telescope's class as LCO names them, from its aperture: 1.0 m is "1m0", 0.4 m "0m4".
    Time is granted per class, so that any telescope of the class may use it."""
    decimetres = round(aperture_m * 10)
    return f"{decimetres // 10}m{decimetres % 10}"


class Semester(TenantOwned):
    """A period time is allocated for, such as 2026B."""

    code = models.SlugField(max_length=20, help_text="e.g. 2026B")
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="semester_code_unique_per_tenant",
                                    violation_error_message="code: this observatory already has this semester."),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="semester_ends_after_start",
                                   violation_error_message="end: a semester ends after it starts."),
        ]  # fmt: skip
        ordering = ["-start"]

    def __str__(self):
        return self.code


class Proposal(TenantOwned):
    """A request for telescope time in a semester, written by a PI with co-investigators,
    reviewed (grade, rank) and approved or rejected by the tenant's admins."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        UNDER_REVIEW = "under_review", "Under review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    semester = models.ForeignKey(Semester, on_delete=models.PROTECT, related_name="proposals")
    title = models.CharField(max_length=200)
    abstract = models.TextField(blank=True)
    science_case = models.TextField(blank=True)
    pi = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals_led")
    co_investigators = models.ManyToManyField(settings.AUTH_USER_MODEL, through="CoInvestigator", blank=True,
                                              related_name="proposals_joined")  # fmt: skip
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    grade = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(5)],
                              help_text="The review's grade, 0 (best) to 5, as TACs grade.")  # fmt: skip
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="Place in the semester's ranking, 1 first.")
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["semester", "rank", "-created_at"]

    def __str__(self):
        return self.title


class CoInvestigator(TenantOwned):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="co_investigator_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["proposal", "user"], name="one_co_investigator_link")]


class TimeAllocation(TenantOwned):
    """Hours asked for and granted to a proposal on one telescope class in its semester; the
    hours used grow as observations complete (and shrink back when one is refunded)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="allocations")
    telescope_class = models.CharField(max_length=10, help_text='As "1m0": see telescope_class().')
    hours_requested = models.FloatField(validators=[MinValueValidator(0)])
    hours_granted = models.FloatField(default=0, validators=[MinValueValidator(0)])
    rapid_response_hours = models.FloatField(
        default=0, validators=[MinValueValidator(0)], help_text="Of the granted hours, those follow-ups may take."
    )
    hours_used = models.FloatField(default=0)
    rapid_response_used = models.FloatField(default=0, help_text="Of the hours used, those rapid-response groups took.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "telescope_class"], name="one_allocation_per_class",
                                    violation_error_message="telescope_class: the proposal already asks for it."),
        ]  # fmt: skip
        ordering = ["telescope_class"]

    def __str__(self):
        return f"{self.proposal}: {self.hours_granted:g} h on {self.telescope_class}"

    @property
    def hours_remaining(self):
        return max(0.0, self.hours_granted - self.hours_used)

    @property
    def rapid_response_remaining(self):
        """Rapid-response hours left: never more than the hours left altogether."""
        return min(self.hours_remaining, max(0.0, self.rapid_response_hours - self.rapid_response_used))


class RequestGroup(TenantOwned):
    """Requests asked for together under a proposal (one target's cadence, a set of fields),
    with one priority: the scheduler weighs hours of it by that priority."""

    class ObservationType(models.TextChoices):
        NORMAL = "normal", "Normal"
        RAPID_RESPONSE = "rapid_response", "Rapid response"

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="request_groups")
    name = models.CharField(max_length=200)
    priority = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="1 to 100; hours of higher priority count for more.",
    )  # fmt: skip
    observation_type = models.CharField(max_length=20, choices=ObservationType.choices, default=ObservationType.NORMAL)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-priority", "created_at"]

    def __str__(self):
        return self.name


class Request(TenantOwned):
    """One observation to make: a target on a telescope class, its configurations in order,
    the sky it needs, and the windows it may be made in (one per visit of a cadence)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        WINDOW_EXPIRED = "window_expired", "Window expired"
        CANCELLED = "cancelled", "Cancelled"

    group = models.ForeignKey(RequestGroup, on_delete=models.CASCADE, related_name="requests")
    target = models.ForeignKey("observations.Target", on_delete=models.PROTECT, related_name="observation_requests")
    telescope_class = models.CharField(max_length=10)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    max_airmass = models.FloatField(default=1.6, validators=[MinValueValidator(1), MaxValueValidator(10)])
    min_lunar_distance_deg = models.FloatField(default=30, validators=[MinValueValidator(0), MaxValueValidator(180)])
    max_lunar_illumination = models.FloatField(default=1.0, validators=[MinValueValidator(0), MaxValueValidator(1)],
                                               help_text="Fraction of the Moon's disc lit, 0 to 1.")  # fmt: skip
    max_seeing_arcsec = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.1)])

    class Meta:
        ordering = ["group", "id"]

    def __str__(self):
        return f"{self.target} on {self.telescope_class}"


class Configuration(TenantOwned):
    """Exposures in one filter of an instrument, made in order with the request's others."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="configurations")
    order = models.PositiveSmallIntegerField(default=0)
    instrument = models.CharField(max_length=30, help_text="An instrument code of the telescope class.")
    filter_name = models.CharField(max_length=30)
    exposure_s = models.FloatField(validators=[MinValueValidator(0.001), MaxValueValidator(100_000)])
    exposure_count = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1),
                                                                             MaxValueValidator(1000)])  # fmt: skip

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(exposure_s__gt=0), name="configuration_exposure_positive",
                                   violation_error_message="exposure_s: an exposure lasts more than 0 s."),
            models.CheckConstraint(condition=models.Q(exposure_count__gt=0), name="configuration_count_positive",
                                   violation_error_message="exposure_count: at least one exposure."),
        ]  # fmt: skip
        ordering = ["request", "order"]


class Window(TenantOwned):
    """A time the request may be made in."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="windows")
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="window_ends_after_start",
                                   violation_error_message="end: a window ends after it starts."),
        ]  # fmt: skip
        ordering = ["start"]


class SchedulePlan(TenantOwned):
    """One run of the scheduler over the coming night: what it placed, how good the plan is
    against the best possible (its proven bound), and why each request it left out was left."""

    class Trigger(models.TextChoices):
        PERIODIC = "periodic", "Periodic"
        FOLLOW_UP = "follow_up", "A follow-up arrived"
        WEATHER = "weather", "A site's conditions changed"
        CANCELLED = "cancelled", "A request was cancelled"
        FAILED = "failed", "An observation failed"
        MANUAL = "manual", "Asked for"
        REQUESTED = "requested", "Requests were made"

    created_at = models.DateTimeField(default=timezone.now)
    start = models.DateTimeField()
    end = models.DateTimeField()
    slice_seconds = models.PositiveIntegerField()
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.PERIODIC)
    planner = models.CharField(max_length=50)
    status = models.CharField(max_length=20, help_text='"optimal", "feasible", or "fallback" (greedy).')
    objective = models.FloatField(help_text="Priority × hours of what was placed.")
    bound = models.FloatField(null=True, blank=True, help_text="No plan of this night can score more.")
    candidates = models.PositiveIntegerField()
    seconds = models.FloatField(help_text="Wall time of the whole run, sky included.")
    unscheduled = models.JSONField(default=dict, help_text='{"request:12": why it was not placed}')
    notes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self):
        return f"plan of {self.start:%Y-%m-%d %H:%M} by {self.planner}"

    @property
    def gap(self):
        if self.bound is None:
            return None
        return max(0.0, (self.bound - self.objective) / self.bound) if self.bound > 0 else 0.0

    @property
    def gap_percent(self):
        return None if self.gap is None else round(self.gap * 100, 2)


class ScheduledObservation(TenantOwned):
    """A place in a telescope's queue: a request (or a follow-up) to observe from ``start`` to
    ``end``. Planned ones are replaced by the next plan; started ones hold their telescope
    until they complete or fail."""

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        STARTED = "started", "Started"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    plan = models.ForeignKey(SchedulePlan, on_delete=models.CASCADE, related_name="observations")
    telescope = models.ForeignKey("portal.Telescope", on_delete=models.CASCADE, related_name="scheduled_observations")
    request = models.ForeignKey(Request, null=True, blank=True, on_delete=models.CASCADE, related_name="scheduled")
    follow_up = models.ForeignKey(FollowUpRequest, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="scheduled")  # fmt: skip
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PLANNED)
    priority = models.FloatField(help_text="Per hour, as the plan weighed it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=500, blank=True, help_text="Why the telescope says it failed.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(request__isnull=True) ^ models.Q(follow_up__isnull=True),
                                   name="scheduled_observation_of_one_thing"),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")),
                                   name="scheduled_observation_ends_after_start"),
        ]  # fmt: skip
        indexes = [models.Index(fields=["telescope", "state", "start"])]
        ordering = ["start"]

    def __str__(self):
        return f"{self.request or self.follow_up} on {self.telescope} at {self.start:%H:%M}"


class SiteCondition(TenantOwned):
    """Whether a site can observe now, and how sharp its sky is, as its staff or weather station
    report them. A closed site gets no observations in the plan until it reports open again; a
    request whose seeing limit is tighter than the seeing measured waits while that measurement
    holds (``SCHEDULING_SEEING_HOLDS_S``); each change re-plans."""

    site = models.OneToOneField("portal.Site", on_delete=models.CASCADE, related_name="condition")
    open = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True, help_text='e.g. "clouds", "humidity 95%".')
    seeing_arcsec = models.FloatField(null=True, blank=True,
                                      validators=[MinValueValidator(0.05), MaxValueValidator(30)],
                                      help_text="The seeing measured (FWHM, arcsec); blank: not known.")  # fmt: skip
    seeing_at = models.DateTimeField(null=True, blank=True, help_text="When the seeing was measured.")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip

    def __str__(self):
        return f"{self.site}: {'open' if self.open else 'closed'}"

    @property
    def seeing_until(self):
        """When the seeing measured stops standing for the sky (None: none measured)."""
        if self.seeing_at is None:
            return None
        return self.seeing_at + timedelta(seconds=settings.SCHEDULING_SEEING_HOLDS_S)


class ObservationFrame(TenantOwned):
    """A frame taken for a scheduled observation: its header named the request (REQNUM, or the
    keyword a site's header rule names), and it was taken on the observation's telescope."""

    observation = models.ForeignKey(ScheduledObservation, on_delete=models.CASCADE, related_name="frame_links")
    frame = models.ForeignKey("observations.Frame", on_delete=models.CASCADE, related_name="observation_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["observation", "frame"], name="one_link_per_observation_frame")]
