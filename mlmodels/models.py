"""The model registry: models (what they do, on what input) and their trained versions."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from portal.models import TenantOwned


class Visibility(models.TextChoices):
    TENANT = "tenant", "My observatory"
    PUBLIC = "public", "Everyone"


class MLModel(TenantOwned):
    """A model as people talk about it ("galaxy morphology"): its task, network and input.

    The weights live in its versions; ``architecture`` says how to build the network they
    fit — a timm model name (``convnext_nano``) or a project module (``module:mlmodels.nets.X``).
    """

    class Task(models.TextChoices):
        MORPHOLOGY = "morphology", "Galaxy morphology"
        FRAME_QUALITY = "frame_quality", "Frame quality"
        REAL_BOGUS = "real_bogus", "Real / bogus"
        LIGHT_CURVE = "light_curve", "Light-curve classification"
        EMBEDDING = "embedding", "Embedding"
        FUSION = "fusion", "Multi-site fusion"
        GENERATIVE = "generative", "Generative augmentation"

    name = models.SlugField(max_length=80, help_text="e.g. 'galaxy-morphology'; unique in the observatory.")
    task = models.CharField(max_length=20, choices=Task.choices)
    architecture = models.CharField(max_length=120, help_text="timm name, or module:dotted.path for a project network.")
    class_names = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    input_spec = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"size": 64, "bands": ["g", "r", "z"], "normalisation": "asinh"}'
    )
    description = models.TextField(blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TENANT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="mlmodel_name_unique_per_tenant",
                violation_error_message="name: this observatory already has a model with this name.",
            )
        ]
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self):
        return self.name


class ModelVersion(TenantOwned):
    """One trained set of weights: its artifact (config.json + model.safetensors, the Hugging
    Face hub's layout), the checksum that guards it, how it did, and where it stands."""

    class Stage(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.STAGING)
    artifact_path = models.CharField(max_length=300, help_text="Storage folder holding config.json and the weights.")
    sha256 = models.CharField(max_length=64, help_text="Of model.safetensors; a mismatch refuses to load.")
    config = models.JSONField(default=dict, help_text="What config.json says.")
    metrics = models.JSONField(default=dict, blank=True)
    training_data = models.JSONField(default=dict, blank=True, help_text="What it was trained on, to redo it.")
    hub_repo = models.CharField(max_length=200, blank=True, help_text="Hugging Face hub repo it came from or went to.")
    hub_revision = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    stage_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_number_once"),
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(stage="production"),
                name="one_production_version_per_model",
                violation_error_message="stage: the model already has a production version; archive it first.",
            ),
        ]
        ordering = ["model__name", "-number"]

    def __str__(self):
        return f"{self.model.name} v{self.number} ({self.stage})"
