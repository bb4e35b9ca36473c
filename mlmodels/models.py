"""The model registry: models (what they do, on what input) and their trained versions."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from portal.models import TenantOwned

from .galaxy_zoo import split_column


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
        VOTE_FRACTIONS = "vote_fractions", "Galaxy Zoo vote fractions"
        FRAME_QUALITY = "frame_quality", "Frame quality"
        REAL_BOGUS = "real_bogus", "Real / bogus"
        LIGHT_CURVE = "light_curve", "Light-curve classification"
        EMBEDDING = "embedding", "Embedding"
        FUSION = "fusion", "Multi-site fusion"
        GENERATIVE = "generative", "Generative augmentation"
        INPAINTING = "inpainting", "Frame inpainting"

    name = models.SlugField(max_length=80, help_text="e.g. 'galaxy-morphology'; unique in the observatory.")
    task = models.CharField(max_length=20, choices=Task.choices)
    architecture = models.CharField(max_length=120, help_text="timm name, or module:dotted.path for a project network.")
    class_names = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    flag_names = ArrayField(
        models.CharField(max_length=60), default=list, blank=True,
        help_text="Yes/no findings predicted beside the class, each with its own probability (e.g. clouds).",
    )  # fmt: skip
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

    @property
    def is_diffusion(self):
        """A diffusion model (a generator, an inpainter) is scored by its denoising loss, not accuracy."""
        return self.task in (self.Task.GENERATIVE, self.Task.INPAINTING)


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


class RankedClasses:
    """What pages read of an answer's class probabilities (``probabilities``: class -> probability)."""

    def ranked(self):
        """(class, probability), most probable first."""
        return sorted(self.probabilities.items(), key=lambda item: -item[1])


class Prediction(RankedClasses, TenantOwned):
    """What one model version said about one object (a target's image, or a frame): its class
    probabilities, or why it could not say. One row per (object, version): re-running a
    version replaces its answer instead of adding another."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    image = models.ForeignKey(
        "observations.TargetImage", null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    frame = models.ForeignKey(
        "observations.Frame", null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    label = models.CharField(max_length=60, blank=True, help_text="The most probable class; empty when refused.")
    confidence = models.FloatField(null=True)
    probabilities = models.JSONField(default=dict, help_text="class -> probability.")
    flags = models.JSONField(default=dict, blank=True, help_text="flag -> probability, for models with flags.")
    refusal = models.CharField(max_length=300, blank=True, help_text="Why the object could not be classified.")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(image__isnull=True, frame__isnull=False) | Q(image__isnull=False, frame__isnull=True),
                name="prediction_of_one_object",
            ),
            # Not partial: NULLs never clash, and a plain unique index is what ON CONFLICT infers.
            models.UniqueConstraint(fields=["version", "image"], name="prediction_once_per_image"),
            models.UniqueConstraint(fields=["version", "frame"], name="prediction_once_per_frame"),
        ]

    def __str__(self):
        return f"{self.version}: {self.label or 'refused'}"

    def shares_by_question(self):
        """A vote-fraction model's answer as pages show it: (question, [(answer, predicted share)])
        in the tree's order (its class names' order; JSONB keeps no key order)."""
        grouped = {}
        for column in self.version.model.class_names:
            question, answer = split_column(column)
            if column in self.probabilities:
                grouped.setdefault(question, []).append((answer, self.probabilities[column]))
        return list(grouped.items())

    def raised_flags(self):
        """The flags the model thinks more likely than not, most probable first."""
        return [(name, p) for name, p in sorted(self.flags.items(), key=lambda item: -item[1]) if p >= 0.5]


class FusedPrediction(RankedClasses, TenantOwned):
    """What a learned-fusion version said of one target from its images of several sites
    (``learned_fusion``): the class, the network's own estimate of the chance that class is
    wrong, and each image it read with its attention weight (how far it was trusted) and what
    that image alone suggested. One row per (target, version): running the version again
    replaces it."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="fused_predictions")
    target = models.ForeignKey("observations.Target", on_delete=models.CASCADE, related_name="fused_predictions")
    label = models.CharField(max_length=60, blank=True, help_text="The most probable class; empty when refused.")
    confidence = models.FloatField(null=True)
    probabilities = models.JSONField(default=dict, help_text="class -> probability.")
    uncertainty = models.FloatField(null=True, help_text="The network's estimate of the chance its class is wrong.")
    observations = models.JSONField(
        default=list, blank=True,
        help_text="Each image read: image id, site, seeing reported, attention weight, its own class and probability.",
    )  # fmt: skip
    left_out = models.JSONField(default=list, blank=True, help_text="Images not read: image id, site and the reason.")
    refusal = models.CharField(max_length=300, blank=True, help_text="Why the target could not be classified.")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "target"], name="fused_prediction_once_per_target")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.version} on {self.target_id}: {self.label or 'refused'}"


class Embedding(TenantOwned):
    """A target image's place in a model version's embedding space (the encoder's pooled
    features), for "galaxies like this one". The target's visibility, the predicted class
    and the site are copied here so a filtered nearest-neighbour search reads one table:
    pgvector's iterative index scan can only filter on the rows it walks.

    The column has no fixed size (models differ); each version gets its own HNSW index
    over ``vector::vector(dimensions)`` restricted to its rows (see similarity.py)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="embeddings")
    image = models.ForeignKey("observations.TargetImage", on_delete=models.CASCADE, related_name="embeddings")
    target = models.ForeignKey("observations.Target", on_delete=models.CASCADE, related_name="embeddings")
    visibility = models.CharField(max_length=10, help_text="The target's, kept in step with it.")
    label = models.CharField(max_length=60, blank=True)
    site = models.ForeignKey("portal.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    vector = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="embedding_once_per_image")]


def generated_set_path(generated, filename):
    return f"generated/{generated.tenant_id}/{generated.pk}-{filename}"


class GeneratedSet(TenantOwned):
    """Galaxies a generative version made of one class, on request: stored as one FITS cube
    (image, band, y, x) in counts, flagged synthetic in its header and wherever it is shown,
    with what made it (version, sampler, seeds: image i starts from the noise of ``seed + i``)
    and its quality report. It may be trained on only once its report passes the gate
    (``generation.usable_for_training``): generated galaxies are never mixed with real ones
    unannounced."""

    class Gate(models.TextChoices):
        PENDING = "pending", "Being generated"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generated_sets")
    class_name = models.CharField(max_length=60)
    count = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    sampler = models.JSONField(default=dict, help_text='e.g. {"name": "ddim", "steps": 50, "guidance": 2.0}')
    job = models.OneToOneField("portal.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    cube = models.FileField(upload_to=generated_set_path, max_length=300, blank=True,
                            help_text="FITS cube (image, band, y, x) in counts, once generated.")  # fmt: skip
    grid = models.FileField(upload_to=generated_set_path, max_length=300, blank=True,
                            help_text="PNG of generated and real galaxies shuffled together.")  # fmt: skip
    grid_key = models.JSONField(default=list, blank=True, help_text="Which grid cells are generated, row by row.")
    report = models.JSONField(default=dict, blank=True)
    gate = models.CharField(max_length=10, choices=Gate.choices, default=Gate.PENDING)
    gate_reasons = models.JSONField(default=list, blank=True, help_text="Why it failed the gate.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        version = self.version
        return f"{self.count} synthetic {self.class_name} galaxies from {version.model.name} v{version.number}"


def repair_path(repair, filename):
    return f"repairs/{repair.tenant_id}/{repair.frame_id}-r{repair.number}-{filename}"


class FrameRepair(TenantOwned):
    """A repaired version of a frame, beside the original (which is never changed): the pixels
    of its mask filled by an inpainting version, the mask and each filled pixel's uncertainty
    stored with it (one FITS file: repaired image, MASK and SPREAD extensions), and its targets'
    photometry measured again on it. Repairs of a frame are numbered 1, 2, … as asked for."""

    class MaskSource(models.TextChoices):
        FLAGS = "flags", "The defects the frame-quality model flagged"
        DETECTED = "detected", "Every defect the detectors find in the pixels"
        DRAWN = "drawn", "Drawn by hand"

    frame = models.ForeignKey("observations.Frame", on_delete=models.CASCADE, related_name="repairs")
    number = models.PositiveIntegerField()
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="repairs")
    mask_source = models.CharField(max_length=10, choices=MaskSource.choices)
    shapes = models.JSONField(
        default=dict, blank=True,
        help_text='A drawn mask: {"lines": [[x0, y0, x1, y1, width]], "boxes": [[x0, y0, x1, y1]]}, 0-based pixels.',
    )  # fmt: skip
    found = models.JSONField(default=dict, blank=True, help_text="Masked pixels by what found them.")
    masked_pixels = models.PositiveIntegerField(default=0)
    kept_under_trail = models.PositiveIntegerField(
        default=0, help_text="Masked pixels under a satellite trail whose own light was kept, less the trail's."
    )
    stars_fitted = models.PositiveIntegerField(
        default=0, help_text="Stars the mask reaches whose masked pixels were given by the frame's fitted profile."
    )
    sampler = models.JSONField(default=dict, help_text='{"name": "repaint", "steps": 25, "resample": 4, "samples": 4}')
    seed = models.BigIntegerField(default=0)
    job = models.OneToOneField("portal.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(upload_to=repair_path, max_length=300, blank=True,
                            help_text="FITS: the repaired image, its MASK and the fills' SPREAD.")  # fmt: skip
    preview = models.FileField(upload_to=repair_path, max_length=300, blank=True)
    mask_preview = models.FileField(upload_to=repair_path, max_length=300, blank=True)
    photometry = models.JSONField(default=list, blank=True, help_text="Targets measured on both versions.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["frame", "number"], name="frame_repair_number_once")]
        ordering = ["frame", "-number"]

    def __str__(self):
        return f"repair {self.number} of {self.frame.original_name}"

    @property
    def download_name(self):
        return f"{self.frame.original_name.rsplit('.', 1)[0]}-repair{self.number}.fits"


class AugmentationExperiment(TenantOwned):
    """Does a generated set help a classifier? Two versions of one morphology model trained on the
    same real galaxies with the same split — one with the set's galaxies added to its training side
    only — and tested on the same held-out real galaxies, none of which the generator learnt from.
    The recall per class of both, and the difference, are kept on both versions
    (``metrics["augmentation"]``), so either version's page tells the whole result."""

    generated_set = models.ForeignKey(GeneratedSet, on_delete=models.PROTECT, related_name="experiments")
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="experiments",
                              help_text="The classifier both versions belong to.")  # fmt: skip
    without_set = models.OneToOneField(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")  # fmt: skip
    with_set = models.OneToOneField(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    epochs = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    job = models.OneToOneField("portal.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"augmentation experiment {self.pk}: {self.model.name} with and without set {self.generated_set_id}"

    @property
    def comparison(self):
        """What both versions keep of the result (``augmentation.recall_comparison``), once trained."""
        version = self.with_set or self.without_set
        return version.metrics.get("augmentation") if version else None
