"""What a task's models classify — its subjects — one class per task, named by dotted path in
``settings.CLASSIFICATION_SUBJECTS``: target images (morphology), frames (frame quality) and
targets imaged from several sites (learned fusion) here; alert stamps and light curves belong
to the alerts app, which stores their answers in its own table. The registry asks a task's
subject to classify new things and to catch up on what a newly promoted version has not seen,
and never needs to know what the things are."""

from abc import ABC, abstractmethod

from django.apps import apps
from django.db.models import Count

from observations.models import Target
from portal.plugins import plugin, plugins
from portal.progress import finish_job, report_progress

from .models import FusedPrediction, Prediction
from .similarity import index_embeddings


class ClassificationSubject(ABC):
    """The things one task's models classify."""

    noun = ""  # what they are, in messages: "images"
    backfill_chunk = 256  # classified between two reports on the backfill job's bar

    @property
    def backfill_scope(self):
        """What a backfill job classifies, in its title ("Classifying … with model v2")."""
        return self.noun

    @abstractmethod
    def classify(self, version, ids):
        """Classify the tenant's subjects ``ids`` with ``version`` and store the answers (on a
        worker); running it again replaces them. Returns how many were classified."""

    @abstractmethod
    def backfill(self, job, version):
        """Classify what of ``job``'s tenant ``version`` has not seen yet, moving the job's bar,
        and finish the job; safe to run again. Returns how many were classified."""

    def classify_in_chunks(self, job, ids, classify_chunk):
        """``classify_chunk(ids of one chunk)`` over ``ids``, a chunk at a time, moving ``job``'s
        bar after each; returns how many the chunks classified."""
        job.total = max(len(ids), 1)
        job.save(update_fields=["total"])
        classified = 0
        for start in range(0, len(ids), self.backfill_chunk):
            classified += classify_chunk(ids[start : start + self.backfill_chunk])
            done = min(start + self.backfill_chunk, len(ids))
            report_progress(job, done, f"{done:,} of {len(ids):,} {self.noun}")
        return classified


class RegistrySubject(ClassificationSubject):
    """Subjects whose answers are the registry's ``Prediction`` rows (one field naming the subject)."""

    model_label = ""  # "observations.TargetImage"
    field = ""  # the Prediction field naming one: "image"
    embeds = False  # whether the network's pooled features are kept as the instance's embedding

    def subjects(self):
        return apps.get_model(self.model_label).objects.all()

    @abstractmethod
    def prepare(self, instance, data, input_spec):
        """What the network reads of ``instance`` from its stored file's bytes ``data`` (on a
        worker); raises inference.Refused or observations' ImageError naming why not."""

    def classify(self, version, ids):
        from . import inference  # torch: only on the workers

        return inference.classify(version, self, self.subjects().filter(pk__in=ids).order_by("pk"))

    def backfill(self, job, version):
        from . import inference

        seen = Prediction.objects.filter(version=version, **{f"{self.field}__isnull": False}).values(f"{self.field}_id")
        waiting = self.subjects().filter(tenant=job.tenant).exclude(pk__in=seen)
        ids = list(waiting.order_by("pk").values_list("pk", flat=True))
        classified = self.classify_in_chunks(job, ids, lambda chunk: inference.classify(
            version, self, waiting.filter(pk__in=chunk).order_by("pk"), index=False))  # fmt: skip
        index_embeddings(version)
        refused = len(ids) - classified
        message = f"{version.model.name} v{version.number}: {classified:,} {self.noun} classified"
        message += f", {refused:,} refused (the reasons are on their pages)" if refused else ""
        finish_job(job, {"classified": classified, "refused": refused}, message)
        return classified


class TargetImages(RegistrySubject):
    noun, model_label, field, embeds = "images", "observations.TargetImage", "image", True

    def subjects(self):
        return super().subjects().select_related("target")  # an embedding carries its target

    def prepare(self, instance, data, input_spec):
        from .inference import prepare_image

        return prepare_image(data, input_spec)


class Frames(RegistrySubject):
    noun, model_label, field = "frames", "observations.Frame", "frame"

    def prepare(self, instance, data, input_spec):
        from .inference import prepare_frame

        return prepare_frame(data, instance.hdu_index, input_spec)


class TargetSiteSets(ClassificationSubject):
    """Targets imaged from two or more sites, each classified once from all its images (learned
    fusion: ``learned_fusion``); the answers are ``FusedPrediction`` rows."""

    noun = "targets imaged from several sites"
    backfill_chunk = 64

    def classify(self, version, ids):
        from .learned_fusion import classify_targets  # torch: only on the workers

        return classify_targets(version, Target.objects.filter(pk__in=ids).order_by("pk"))

    def backfill(self, job, version):
        seen = FusedPrediction.objects.filter(version=version).values("target_id")
        waiting = imaged_from_several_sites(job.tenant).exclude(pk__in=seen)
        ids = list(waiting.order_by("pk").values_list("pk", flat=True))
        classified = self.classify_in_chunks(job, ids, lambda chunk: self.classify(version, chunk))
        refused = len(ids) - classified
        message = f"{version.model.name} v{version.number}: {classified:,} targets classified from their sites' images"
        message += f", {refused:,} refused (the reasons are on their pages)" if refused else ""
        finish_job(job, {"classified": classified, "refused": refused}, message)
        return classified


def imaged_from_several_sites(tenant, targets=None):
    """The tenant's targets (of ``targets``, a queryset or ids, when given) with images from two
    or more sites: what learned fusion classifies."""
    chosen = Target.objects.filter(tenant=tenant)
    if targets is not None:
        chosen = chosen.filter(pk__in=targets)
    return chosen.annotate(sites_imaged=Count("images__site", distinct=True)).filter(sites_imaged__gte=2)


def subject_for(task):
    """The task's ClassificationSubject, or None when its models classify nothing stored."""
    return plugin("CLASSIFICATION_SUBJECTS", task)


def tasks_classifying(subject_class):
    """The tasks whose models classify ``subject_class``'s things (TargetImages: morphology and
    vote fractions): where a new one goes, whichever tasks there are."""
    return [task for task, subject in plugins("CLASSIFICATION_SUBJECTS").items() if isinstance(subject, subject_class)]
