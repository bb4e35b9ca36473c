"""Registry pages: the models an observatory can use, their versions, and which one serves."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from observations.services import visible_targets
from portal import audit
from portal.models import Job, Site
from portal.permissions import may, require
from portal.progress import job_subject, queue_job, start_job

from . import hub, registry, services, similarity
from .forms import GenerationForm, HubPullForm, HubPushForm, SimilarityForm, TrainingForm
from .galaxy_zoo import question_groups
from .models import GeneratedSet, MLModel, ModelVersion
from .plots import confusion_matrix, embedding_map, recall_bars, training_curves
from .training_sets import source_for

MAP_POINTS = 2000


@require_POST
def start_selftest(request, tenant_slug):
    """Queue a self-test on the ``gpu`` workers and open the page that watches it."""
    require(request, "jobs.start")
    job = start_job(tenant=request.tenant, user=request.user, kind="selftest", title="GPU worker self-test", total=20)
    queue_job(job, "mlmodels.tasks.accelerator_selftest", request.tenant.pk, job.pk, steps=job.total)
    return redirect("job_detail", tenant_slug=tenant_slug, job_id=job.pk)


def model_list(request, tenant_slug):
    models = registry.usable_models(request.tenant).select_related("tenant").prefetch_related("versions")
    return render(request, "mlmodels/model_list.html", {"models": models})


def model_detail(request, tenant_slug, model_id, number=None):
    """A model's versions side by side; the chosen one (production by default) in detail."""
    model = get_object_or_404(registry.usable_models(request.tenant).select_related("tenant"), pk=model_id)
    versions = list(model.versions.all())
    if number is not None:
        shown = next((version for version in versions if version.number == number), None)
        if shown is None:
            raise Http404(f"{model.name} has no version {number}.")
    else:
        shown = next(
            (v for v in versions if v.stage == ModelVersion.Stage.PRODUCTION), versions[0] if versions else None
        )
    return render(request, "mlmodels/model_detail.html", {
        "model": model, "versions": versions, "shown": shown,
        "can_manage": model.tenant_id == request.tenant.pk and may(request.tenant_role, "models.manage"),
        "per_class": per_class_scores(shown) if shown else [],
        "per_flag": per_flag_scores(shown) if shown else [],
        "per_question": per_question_scores(shown) if shown else [],
        "training_form": TrainingForm(source=source_for(model.task), tenant=request.tenant),
        "pull_form": HubPullForm(), "push_form": HubPushForm(),
        "hub_endpoint": settings.HF_ENDPOINT,
        "jobs": Job.objects.filter(tenant=request.tenant, subject=job_subject(model),
                                   status__in=[Job.Status.QUEUED, Job.Status.RUNNING]),
        "confusion_matrix": confusion_matrix(shown) if shown else None,
        **(_generative(request.tenant, shown) if shown and model.task == MLModel.Task.GENERATIVE else {}),
        "training_curves": training_curves(shown) if shown else None,
        "experiments": _experiments(model),
    })  # fmt: skip


def _experiments(model):
    """(experiment, its comparison, the recall figure) of each augmentation experiment whose
    versions are the model's, newest first."""
    shown = []
    experiments = model.experiments.select_related("generated_set__version__model", "job", "without_set", "with_set")
    for experiment in experiments:
        comparison = experiment.comparison
        shown.append((experiment, comparison, recall_bars(comparison) if comparison else None))
    return shown


def _generative(tenant, version):
    """What a generative version's page adds: the form asking it for galaxies, and the sets made with it."""
    sets = GeneratedSet.objects.filter(tenant=tenant, version=version).select_related("version__model")
    learnt = version.metrics.get("examples_per_class", {})
    classes = version.config.get("label_names") or version.model.class_names
    return {"generation_form": GenerationForm(version=version), "generated_sets": sets,
            "learnt_from": [(name, learnt[name]) for name in classes if name in learnt]}  # fmt: skip


def per_class_scores(version):
    """(class, {precision, recall}) in the model's class order (JSONB keeps no key order)."""
    scores = version.metrics.get("per_class") or {}
    names = version.config.get("label_names") or version.model.class_names
    return [(name, scores[name]) for name in names if name in scores]


def per_question_scores(version):
    """(question, {mean_absolute_error, galaxies}) in the tree's order, for a vote model."""
    scores = version.metrics.get("per_question") or {}
    return [(question, scores[question]) for question, _ in question_groups(version.model.class_names)
            if question in scores]  # fmt: skip


def per_flag_scores(version):
    """(flag, {precision, recall}) in the model's flag order."""
    scores = version.metrics.get("flags") or {}
    return [(name, scores[name]) for name in version.config.get("flag_names", []) if name in scores]


@require_POST
def train(request, tenant_slug, model_id):
    """Queue the model's next version on a gpu worker; the job page draws its curve live."""
    require(request, "models.manage")
    model = get_object_or_404(MLModel, tenant=request.tenant, pk=model_id)
    form = TrainingForm(request.POST, source=source_for(model.task), tenant=request.tenant)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("model_detail", tenant_slug=tenant_slug, model_id=model.pk)
    dataset, focus = form.cleaned_data.get("dataset"), form.cleaned_data.get("focus") or None
    refusal = services.training_refusal(model, dataset, focus)
    if refusal:
        messages.error(request, refusal)
        return redirect("model_detail", tenant_slug=tenant_slug, model_id=model.pk)
    job = services.queue_training(model, request.user, examples=form.cleaned_data["examples"],
                                  epochs=form.cleaned_data["epochs"], dataset=dataset, focus=focus)  # fmt: skip
    return redirect("job_detail", tenant_slug=tenant_slug, job_id=job.pk)


@require_POST
def change_stage(request, tenant_slug, model_id, number):
    """Promote a version to production (archiving the one before) or archive it: admins only."""
    require(request, "models.manage")
    version = get_object_or_404(ModelVersion, model__tenant=request.tenant, model_id=model_id, number=number)
    action = request.POST.get("action")
    if action == "promote":
        version, backfill = services.promote_version(version, request.user, audit.origin(request))
        messages.success(request, f"{version.model.name} v{number} now serves predictions.")
        if backfill is not None:  # the page that follows it classifying what it has not seen
            return redirect("job_detail", tenant_slug=tenant_slug, job_id=backfill.pk)
    elif action == "archive":
        services.archive_version(version, audit.origin(request))
        messages.success(request, f"{version.model.name} v{number} is archived.")
    else:
        messages.error(request, f"Unknown action {action!r}: promote or archive.")
    return redirect("model_version", tenant_slug=tenant_slug, model_id=model_id, number=number)


@require_POST
def pull_from_hub(request, tenant_slug, model_id):
    """Register a hub repo's weights as the model's next version (staging): admins only."""
    require(request, "models.manage")
    model = get_object_or_404(MLModel, tenant=request.tenant, pk=model_id)
    form = HubPullForm(request.POST)
    try:
        if not form.is_valid():
            raise registry.RegistryError(_form_errors(form))
        version = hub.pull_version(model, request.user, form.cleaned_data["repo_id"], form.cleaned_data["revision"])
    except registry.RegistryError as error:
        messages.error(request, str(error))
        return redirect("model_detail", tenant_slug=tenant_slug, model_id=model.pk)
    messages.success(request, f"v{version.number} pulled from {version.hub_repo}@{version.hub_revision[:12]}; "
                              "promote it to serve predictions.")  # fmt: skip
    return redirect("model_version", tenant_slug=tenant_slug, model_id=model.pk, number=version.number)


@require_POST
def push_to_hub(request, tenant_slug, model_id, number):
    """Commit a version's artifact and model card to a hub repo: admins only."""
    require(request, "models.manage")
    version = get_object_or_404(ModelVersion, model__tenant=request.tenant, model_id=model_id, number=number)
    form = HubPushForm(request.POST)
    try:
        if not form.is_valid():
            raise registry.RegistryError(_form_errors(form))
        hub.push_version(version, form.cleaned_data["repo_id"], private=form.cleaned_data["private"])
    except registry.RegistryError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"v{number} is on the hub: {version.hub_repo}@{version.hub_revision[:12]}.")
    return redirect("model_version", tenant_slug=tenant_slug, model_id=model_id, number=number)


def _form_errors(form):
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


def similar_galaxies(request, tenant_slug, target_id):
    """The galaxies nearest this one in a morphology model's embedding space, as a grid with
    distances, and the space itself flattened to a map."""
    target = get_object_or_404(visible_targets(request.tenant, request.user), pk=target_id)
    image = target.images.first()
    versions = list(services.production_versions(request.tenant, MLModel.Task.MORPHOLOGY))
    form = SimilarityForm(request.GET or None, versions=versions, sites=Site.objects.filter(tenant=request.tenant),
                          scopes=similarity.SCOPES)  # fmt: skip
    context = {"target": target, "image": image, "form": form, "neighbours": [], "problem": None, "map": None}
    if image is None:
        context["problem"] = f"{target.name} has no colour image yet: similarity compares g/r/z images of galaxies."
    elif not versions:
        context["problem"] = "No morphology model is in production yet: promote a version on the Models page."
    else:
        version, arguments = form.search_arguments(versions)
        context["version"] = version
        try:
            context["neighbours"] = similarity.search(request.tenant, request.user, image, version, **arguments)
        except similarity.SimilarityError as error:
            context["problem"] = str(error)
        else:
            context["map"] = _space_map(version, image, context["neighbours"])
    return render(request, "mlmodels/similar_galaxies.html", context)


def _space_map(version, image, neighbours):
    found = [neighbour.image_id for neighbour in neighbours]
    vectors, labels, names, image_ids = similarity.space_sample(version, include=[image.pk, *found], limit=MAP_POINTS)
    if len(vectors) < 3:
        return None
    position = {image_id: index for index, image_id in enumerate(image_ids)}
    return embedding_map(vectors, labels, names, highlight=[position[pk] for pk in found if pk in position],
                         anchor=position.get(image.pk))  # fmt: skip
