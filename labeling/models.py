"""Citizen science: projects whose volunteers classify galaxies through a decision tree.

A project asks one question tree (its workflow, versioned: a new version never rewrites the
votes given under an old one) about a set of subjects (target images). Each subject keeps its
own counters, so choosing the next galaxy for a volunteer and deciding when one is retired
never counts votes (Panoptes and Caesar keep per-subject counts for the same reason).
"""

from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from portal.models import TenantOwned


class Project(TenantOwned):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private (its team: the tenant's admins and astronomers)"
        TENANT = "tenant", "Tenant-wide (every member, volunteers included)"
        PUBLIC = "public", "Public (anyone, signed in or not)"

    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=4000)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    retirement_limit = models.PositiveIntegerField(
        default=40, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Classifications after which a galaxy is retired (Galaxy Zoo DECaLS: 40).",
    )  # fmt: skip
    consensus_fraction = models.FloatField(
        null=True, blank=True, default=0.8, validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Retire early once this share of votes agree on the first question (blank: never early).",
    )  # fmt: skip
    consensus_min_votes = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Votes needed before an early retirement."
    )
    gold_rate = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of galaxies served that are gold standard (known answers: they measure each volunteer).",
    )  # fmt: skip
    uncertainty_weight = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="How much the production model's uncertainty, against the votes still needed, orders the galaxies.",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)
    aggregated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last aggregation began: votes after it wait for the next."
    )
    guide_examples = models.JSONField(
        default=dict,
        blank=True,
        help_text="question -> answer -> subject ids the consensus is surest of (field guide).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(Lower("slug"), "tenant", name="project_slug_unique_per_tenant")]
        ordering = ["name"]

    def __str__(self):
        return self.name


class Workflow(TenantOwned):
    """One version of a project's question tree; the highest version is the one asked now."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    version = models.PositiveIntegerField()
    tree = models.JSONField()
    note = models.CharField(max_length=200, blank=True, help_text="What changed in this version.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="workflow_version_once")]
        ordering = ["project", "-version"]

    def __str__(self):
        return f"{self.project} v{self.version}"


class Subject(TenantOwned):
    """A galaxy (a target image) in a project, with its counters and its place in the queue."""

    class Retirement(models.TextChoices):
        LIMIT = "limit", "Enough classifications"
        CONSENSUS = "consensus", "Clear consensus on the first question"
        OWNER = "owner", "Retired by the project's owner"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="subjects")
    image = models.ForeignKey("observations.TargetImage", on_delete=models.CASCADE, related_name="labeling_subjects")
    classification_count = models.PositiveIntegerField(default=0)
    # Votes on the workflow's first question, {answer: count}: early retirement reads them.
    first_answers = models.JSONField(default=dict)
    # The production model's doubt about this galaxy, 0 (sure) to 1 (no idea); null: not yet judged.
    uncertainty = models.FloatField(null=True, blank=True)
    priority = models.FloatField(default=0.0, help_text="Higher is served sooner; recomputed on every vote.")
    gold_answers = models.JSONField(
        null=True, blank=True, help_text="Known answers ([question, answer] pairs): a gold-standard galaxy."
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    retirement = models.CharField(max_length=10, choices=Retirement.choices, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    # Written by the aggregation (labeling.services.aggregate), per question of the current workflow:
    vote_counts = models.JSONField(default=dict, help_text="question -> answer -> votes")
    consensus = models.JSONField(default=dict, help_text="question -> answer -> skill-weighted probability")
    aggregated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "image"], name="subject_image_once_per_project")]
        indexes = [
            # The queue: a project's galaxies still taking votes, best first.
            models.Index("project", models.F("priority").desc(), "id", name="subject_queue",
                         condition=models.Q(retired_at__isnull=True, gold_answers__isnull=True)),
            models.Index("project", "id", name="subject_gold", condition=models.Q(gold_answers__isnull=False)),
        ]  # fmt: skip
        ordering = ["project", "-priority", "id"]

    def __str__(self):
        return f"{self.image} in {self.project}"


class Classification(TenantOwned):
    """One volunteer's answers about one galaxy, under the workflow version they were shown.

    ``voter`` names the volunteer whether signed in (``user:<id>``) or not (``anon:<token>``,
    a random token kept in their session), so a galaxy counts each volunteer once either way."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="classifications")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="classifications")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="classifications")
    volunteer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="classifications")  # fmt: skip
    voter = models.CharField(max_length=80)
    answers = models.JSONField(help_text="[question, answer] pairs in the order asked.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "voter"], name="one_classification_per_voter")]
        indexes = [
            models.Index(fields=["project", "voter", "-created_at"], name="classification_history"),
            models.Index(fields=["project", "-created_at"], name="classification_recent"),
        ]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.voter} on {self.subject_id}"


class VolunteerSkill(TenantOwned):
    """How reliable one volunteer is in one project, as the last aggregation estimated it: the
    chance they give the true answer, over the questions they were asked (Dawid–Skene)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="skills")
    voter = models.CharField(max_length=80)
    skill = models.FloatField()
    votes = models.PositiveIntegerField(help_text="Answers they gave (every question of every galaxy).")
    gold_votes = models.PositiveIntegerField(default=0, help_text="Of which on gold-standard galaxies.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "voter"], name="one_skill_per_voter")]
        ordering = ["project", "-skill"]

    def __str__(self):
        return f"{self.voter}: {self.skill:.2f}"


def export_path(export, filename):
    return f"labeling/{export.tenant_id}/{export.project_id}/votes-v{export.number}{Path(filename).suffix}"


class VoteExport(TenantOwned):
    """A project's votes as one aggregation left them, frozen in a file that a training run can
    name: version N of the project's exports is never rewritten, so a model trained on it can
    always say what it learnt from."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    number = models.PositiveIntegerField()
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="+",
                                 help_text="The tree whose questions and answers are the columns.")  # fmt: skip
    file = models.FileField(upload_to=export_path, max_length=300, help_text="CSV, one galaxy a row.")
    sha256 = models.CharField(max_length=64)
    galaxies = models.PositiveIntegerField()
    classifications = models.PositiveIntegerField()
    volunteers = models.PositiveIntegerField()
    aggregated_at = models.DateTimeField(help_text="The aggregation whose counts it holds.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="vote_export_number_once")]
        ordering = ["project", "-number"]

    def __str__(self):
        return f"{self.project} votes v{self.number}"
