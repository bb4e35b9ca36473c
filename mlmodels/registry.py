"""The model registry's operations: register a model, save a trained version, load it back
(checked against its checksum), promote one version to production, archive the rest.

An artifact is a storage folder in the Hugging Face hub's layout — ``config.json`` and
``model.safetensors`` — so a version can be pushed to a hub repo as it is, and one pulled
from a hub is kept the same way. Weights are read and written as numpy arrays: the web
process never needs torch; workers turn them into tensors.
"""

import hashlib
import json

import safetensors.numpy
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from .models import MLModel, ModelVersion, Visibility

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class RegistryError(ValueError):
    """A model or version that cannot be used; the message says which and why."""


class ArtifactCorrupt(RegistryError):
    """A stored artifact that does not match what was registered."""


def create_model(tenant, user, *, name, task, architecture, class_names=(), flag_names=(), input_spec=None,
                 description="", visibility=MLModel._meta.get_field("visibility").default):  # fmt: skip
    model = MLModel(tenant=tenant, created_by=user, name=name, task=task, architecture=architecture,
                    class_names=list(class_names), flag_names=list(flag_names), input_spec=input_spec or {},
                    description=description, visibility=visibility)  # fmt: skip
    model.full_clean(exclude=["tenant"])
    model.save()
    return model


def save_version(model, user, *, weights, config=None, metrics=None, training_data=None, hub_repo="", hub_revision=""):
    """Store ``weights`` (name -> numpy array) as the model's next version, in staging.

    config.json gets what timm's hub loader reads (architecture, num_classes, label_names)
    on top of ``config``. The files are written before the row, and removed if the row
    cannot be saved, so a version never points at a missing artifact.
    """
    with transaction.atomic():
        MLModel.objects.select_for_update().filter(pk=model.pk).get()  # numbers are handed out one at a time
        number = (model.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        folder = f"models/{model.tenant_id}/{model.name}/v{number}"
        # num_classes is the network's outputs (timm builds the head from it): the classes, then the flags.
        config = {**(config or {}), "architecture": model.architecture,
                  "num_classes": len(model.class_names) + len(model.flag_names), "label_names": list(model.class_names),
                  "flag_names": list(model.flag_names), "input_spec": model.input_spec,
                  **_timm_fields(model, config)}  # fmt: skip
        blob = safetensors.numpy.save(weights, metadata={"model": model.name, "version": str(number)})
        stored = []
        try:
            for name, content in ((WEIGHTS_NAME, blob), (CONFIG_NAME, json.dumps(config, indent=2).encode())):
                stored.append(default_storage.save(f"{folder}/{name}", ContentFile(content)))
            if stored != [f"{folder}/{WEIGHTS_NAME}", f"{folder}/{CONFIG_NAME}"]:
                raise RegistryError(f"{folder} already holds files; refusing to mix two versions' artifacts")
            return ModelVersion.objects.create(
                tenant_id=model.tenant_id, model=model, number=number, artifact_path=folder,
                sha256=hashlib.sha256(blob).hexdigest(), config=config, metrics=metrics or {},
                training_data=training_data or {}, hub_repo=hub_repo, hub_revision=hub_revision, created_by=user,
            )  # fmt: skip
        except BaseException:
            for name in stored:
                default_storage.delete(name)
            raise


def _timm_fields(model, config):
    """What timm needs beyond the name to rebuild the network from config.json alone
    (``timm.create_model("hf-hub:…")``): the input bands as ``in_chans``, the input size."""
    config = config or {}
    bands, size = model.input_spec.get("bands"), model.input_spec.get("size")
    if not bands:
        return {}
    pretrained = {"input_size": [len(bands), size, size]} if size else {}
    return {"pretrained_cfg": {**pretrained, **config.get("pretrained_cfg", {})},
            "model_args": {**config.get("model_args", {}), "in_chans": len(bands)}}  # fmt: skip


def delete_artifact(version):
    """Remove a version's stored files: for a caller whose transaction rolls back the row after
    ``save_version`` wrote them, so no artifact is left that no version points at."""
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        default_storage.delete(f"{version.artifact_path}/{name}")


def read_artifact(version):
    """(config.json, model.safetensors) of a version as stored bytes, after checking the
    weights are the ones registered."""
    try:
        with default_storage.open(f"{version.artifact_path}/{WEIGHTS_NAME}", "rb") as stored:
            blob = stored.read()
        with default_storage.open(f"{version.artifact_path}/{CONFIG_NAME}", "rb") as stored:
            config = stored.read()
    except OSError as error:
        raise ArtifactCorrupt(f"{version}: the artifact in {version.artifact_path} cannot be read ({error})") from error
    actual = hashlib.sha256(blob).hexdigest()
    if actual != version.sha256:
        raise ArtifactCorrupt(f"{version}: {WEIGHTS_NAME} has SHA-256 {actual[:16]}…, the registry recorded "
                              f"{version.sha256[:16]}…; refusing to load weights that changed")  # fmt: skip
    return config, blob


def load_version(version):
    """(config, weights) of a version, checked as read_artifact checks them."""
    config, blob = read_artifact(version)
    try:
        config = json.loads(config)
    except ValueError as error:
        raise ArtifactCorrupt(f"{version}: {CONFIG_NAME} in {version.artifact_path} is not JSON ({error})") from error
    return config, safetensors.numpy.load(blob)


@transaction.atomic
def promote(version):
    """Make ``version`` the one its model serves; the production version before it is archived."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.stage != ModelVersion.Stage.PRODUCTION:
        now = timezone.now()
        version.model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).update(
            stage=ModelVersion.Stage.ARCHIVED, stage_changed_at=now
        )
        version.stage, version.stage_changed_at = ModelVersion.Stage.PRODUCTION, now
        version.save(update_fields=["stage", "stage_changed_at"])
    return version


def archive(version):
    """Retire a version: kept for comparison, never served."""
    version.stage, version.stage_changed_at = ModelVersion.Stage.ARCHIVED, timezone.now()
    version.save(update_fields=["stage", "stage_changed_at"])
    return version


def usable_models(tenant):
    """The models a member of ``tenant`` may run: the tenant's own and every public one."""
    return MLModel.objects.filter(Q(tenant=tenant) | Q(visibility=Visibility.PUBLIC))


def usable_version(tenant, model_name, number=None):
    """The version to run: ``number``, or the model's production version. The model is the
    tenant's own or a public one; anything else is a RegistryError saying what exists."""
    models = usable_models(tenant)
    model = models.filter(name=model_name).order_by("-tenant_id").first()
    if model is None:
        known = ", ".join(sorted(set(models.values_list("name", flat=True)))) or "none yet"
        raise RegistryError(f"no model named {model_name!r}; this observatory can use: {known}")
    versions = model.versions.all()
    if number is None:
        version = versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
        if version is None:
            raise RegistryError(f"{model_name} has no production version yet; promote one of its versions first")
        return version
    version = versions.filter(number=number).first()
    if version is None:
        numbers = ", ".join(f"v{n}" for n in versions.values_list("number", flat=True)) or "none"
        raise RegistryError(f"{model_name} has no version {number} (it has: {numbers})")
    if version.stage == ModelVersion.Stage.ARCHIVED:
        raise RegistryError(f"{version} is archived; promote it again to use it")
    return version
