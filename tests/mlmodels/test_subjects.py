"""A new kind of thing for models to classify is a class behind
``subjects.ClassificationSubject`` and a line in ``settings.CLASSIFICATION_SUBJECTS``:
promoting a model of its task catches up on it, and classifying goes through it — the
registry's services do not change."""

from django.conf import settings
from django.test import override_settings

from mlmodels import registry, services
from mlmodels.models import ModelVersion
from mlmodels.subjects import ClassificationSubject
from observations.models import Target
from portal.progress import finish_job
from portal.tenancy import tenant_context


class Targets(ClassificationSubject):
    """Targets themselves (by name, say): here it only counts what it is asked to look at."""

    noun = "targets"

    def classify(self, version, ids):
        return Target.objects.filter(pk__in=ids).count()

    def backfill(self, job, version):
        count = Target.objects.filter(tenant=job.tenant).count()
        finish_job(job, {"classified": count}, f"{count} targets looked at by {version.model.name}")
        return count


WITH_TARGETS = {**settings.CLASSIFICATION_SUBJECTS, "embedding": "tests.mlmodels.test_subjects.Targets"}


def embedder(tenant, user):
    model = registry.create_model(tenant, user, name="embedder", task="embedding", architecture="convnext_atto")
    return ModelVersion.objects.create(tenant=tenant, model=model, number=1, artifact_path="unused", sha256="0" * 64)


def test_a_subject_added_by_a_class_and_a_setting_is_backfilled_on_promotion_and_classified(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant), override_settings(CLASSIFICATION_SUBJECTS=WITH_TARGETS):
        targets = [Target.objects.create(tenant=tenant, name=f"T{n}", ra_deg=10.0 + n, dec_deg=5.0) for n in range(3)]
        version, job = services.promote_version(embedder(tenant, users["admin"]), users["admin"])
        assert version.stage == ModelVersion.Stage.PRODUCTION
        assert (job.title, job.task) == ("Classifying targets with embedder v1", "mlmodels.tasks.backfill")
        assert services.backfill_job(job, version) == 3  # what the gpu-batch worker runs for the job
        job.refresh_from_db()
        assert (job.status, job.message) == ("succeeded", "3 targets looked at by embedder")
        assert services.classify(version, [targets[0].pk, targets[2].pk]) == 2


def test_a_task_no_subject_is_named_for_has_nothing_to_catch_up_on(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        version, job = services.promote_version(embedder(tenant, users["admin"]), users["admin"])
    assert version.stage == ModelVersion.Stage.PRODUCTION and job is None
