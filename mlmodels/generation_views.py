"""Generated sets on pages: ask a generative version for galaxies of a class, watch them being
made, read their quality report beside real galaxies, and download them."""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.permissions import may, require

from . import registry
from .augmentation import ExperimentRefused, request_experiment, set_refusal
from .forms import ExperimentForm, GenerationForm
from .generation import GRID_SIDE, GenerationRefused, request_generation
from .models import GeneratedSet, ModelVersion
from .plots import quality_histograms


@require_POST
def generate(request, tenant_slug, model_id, number):
    """Ask ``number`` of a generative model for a set; a refusal (another task's model, a class it
    learnt from too few galaxies, too many at once) comes back to the model page, nothing queued."""
    require(request, "jobs.start")
    version = get_object_or_404(ModelVersion.objects.select_related("model"), model_id=model_id, number=number,
                                model__in=registry.usable_models(request.tenant))  # fmt: skip
    form = GenerationForm(request.POST, version=version)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
        return redirect("model_version", tenant_slug=tenant_slug, model_id=model_id, number=number)
    try:
        generated = request_generation(request.tenant, version, request.user, **form.cleaned_data)
    except GenerationRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("model_version", tenant_slug=tenant_slug, model_id=model_id, number=number)
    return redirect("generated_set_detail", tenant_slug=tenant_slug, set_id=generated.pk)


def generated_set_list(request, tenant_slug):
    sets = GeneratedSet.objects.filter(tenant=request.tenant).select_related("version__model", "created_by")
    return render(request, "mlmodels/generated_set_list.html", {"sets": sets})


def generated_set_detail(request, tenant_slug, set_id):
    generated = get_object_or_404(GeneratedSet.objects.select_related("version__model", "job", "created_by"),
                                  pk=set_id, tenant=request.tenant)  # fmt: skip
    report = generated.report
    statistics = sorted(report.get("statistics", {}).items())
    return render(request, "mlmodels/generated_set_detail.html", {
        "generated": generated, "job": generated.job, "report": report, "statistics": statistics,
        "histograms": quality_histograms(report) if report else None,
        "thresholds": settings.GENERATION_GATE,
        "experiments": generated.experiments.select_related("model", "without_set", "with_set", "job"),
        "experiment_form": ExperimentForm(), "experiment_refusal": set_refusal(generated),
        "can_experiment": may(request.tenant_role, "models.manage"),
        "grid_key": [generated.grid_key[row : row + GRID_SIDE] for row in range(0, len(generated.grid_key), GRID_SIDE)],
    })  # fmt: skip


@require_POST
def start_experiment(request, tenant_slug, set_id):
    """Train a morphology model with and without the set; a set that has not passed its gate (or
    any other refusal) comes back to the set's page, nothing queued."""
    require(request, "models.manage")
    generated = get_object_or_404(GeneratedSet.objects.select_related("version__model"), pk=set_id,
                                  tenant=request.tenant)  # fmt: skip
    form = ExperimentForm(request.POST)
    try:
        if not form.is_valid():
            raise ExperimentRefused("; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
        experiment = request_experiment(request.tenant, generated, request.user, **form.cleaned_data)
    except ExperimentRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("generated_set_detail", tenant_slug=tenant_slug, set_id=set_id)
    return redirect("job_detail", tenant_slug=tenant_slug, job_id=experiment.job_id)


def generated_set_file(request, tenant_slug, set_id, kind):
    generated = get_object_or_404(GeneratedSet, pk=set_id, tenant=request.tenant)
    if kind not in ("fits", "grid") or not generated.cube:
        raise Http404("A generated set has a 'fits' and a 'grid' file once its job has made them.")
    if kind == "grid":
        return FileResponse(generated.grid.open("rb"), content_type="image/png")
    name = f"synthetic-{generated.class_name}-set{generated.pk}.fits"
    return FileResponse(generated.cube.open("rb"), as_attachment=True, filename=name, content_type="application/fits")
