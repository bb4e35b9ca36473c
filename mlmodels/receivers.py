"""The registry's answers to what the apps below it report (connected in ``MlmodelsConfig.ready``):
new frames, target images and targets newly imaged from several sites go to every production
model that classifies them."""

from django.dispatch import receiver

from observations.signals import frame_ingested, images_added

from .models import MLModel
from .services import classify_when_committed, production_versions
from .subjects import TargetImages, TargetSiteSets, imaged_from_several_sites, tasks_classifying


@receiver(frame_ingested, dispatch_uid="mlmodels.judge_new_frame")
def judge_new_frame(sender, *, tenant, frame, run, **kwargs):
    """The versions that judge frames are looked up once a run: a folder's frames come one by
    one, and the lookup would cost each of them a query."""
    if "frame_quality_versions" not in run:
        run["frame_quality_versions"] = list(production_versions(tenant, MLModel.Task.FRAME_QUALITY))
    classify_when_committed(tenant, MLModel.Task.FRAME_QUALITY, [frame.pk], versions=run["frame_quality_versions"])


@receiver(images_added, dispatch_uid="mlmodels.classify_new_images")
def classify_new_images(sender, *, tenant, images, **kwargs):
    """Each image goes to the models classifying images; its target, when it now has images
    from two or more sites, to the learned-fusion models, which read them all again."""
    for task in tasks_classifying(TargetImages):
        classify_when_committed(tenant, task, [image.pk for image in images])
    imaged = {image.target_id for image in images if image.site_id is not None}
    for task in tasks_classifying(TargetSiteSets) if imaged else ():
        versions = list(production_versions(tenant, task))
        if versions:  # only then is it worth asking which targets now have two sites
            targets = imaged_from_several_sites(tenant, imaged).order_by("pk").values_list("pk", flat=True)
            classify_when_committed(tenant, task, list(targets), versions=versions)
