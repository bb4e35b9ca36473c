"""Fusion across sites from a target's page: ask for a fused image, watch its job, see the image
with the frames it used and those it left out, download its FITS file; ask for the target's
photometry to be calibrated across sites, for its fused light curve."""

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.permissions import require

from .calibrated_photometry import request_calibration
from .calibration import CalibrationRefused
from .forms import FusionForm
from .fused_images import request_fusion, target_frames
from .fusion import FusionRefused
from .models import FusedImage
from .services import visible_targets


def fusion_form(target, data=None):
    """The form for ``target``, offering the bands its frames were taken in."""
    bands = sorted({frame.filter_name for frame, _ in target_frames(target) if frame.filter_name})
    return FusionForm(data, bands=bands)


def target_fuse(request, tenant_slug, target_id):
    """Ask for a fused image of the target; a refusal (no frame in the band or the nights, a field
    too large) is shown on the field at fault, and nothing is queued."""
    require(request, "jobs.start")
    target = get_object_or_404(visible_targets(request.tenant, request.user), pk=target_id)
    form = fusion_form(target, request.POST if request.method == "POST" else None)
    if form.is_valid():
        asked = {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}
        try:
            fused = request_fusion(request.tenant, request.user, target, **asked)
        except FusionRefused as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            return redirect("fused_image_detail", tenant_slug=tenant_slug, fused_id=fused.pk)
    return render(request, "observations/fusion_form.html", {"target": target, "form": form})


def fused_image_detail(request, tenant_slug, fused_id):
    fused = get_object_or_404(FusedImage.objects.select_related("target", "job", "created_by"), pk=fused_id,
                              tenant=request.tenant)  # fmt: skip
    used = sorted(fused.frames_used, key=lambda frame: -frame.get("weight_share", 0))
    return render(request, "observations/fused_image_detail.html", {"fused": fused, "job": fused.job, "used": used})


def fused_image_file(request, tenant_slug, fused_id, kind):
    fused = get_object_or_404(FusedImage.objects.select_related("target"), pk=fused_id, tenant=request.tenant)
    if kind not in ("fits", "preview") or not fused.file:
        raise Http404("A fused image has a 'fits' and a 'preview' file once its job has made them.")
    if kind == "preview":
        return FileResponse(fused.preview.open("rb"), content_type="image/png")
    return FileResponse(
        fused.file.open("rb"), as_attachment=True, filename=fused.download_name, content_type="application/fits"
    )


@require_POST
def target_calibrate(request, tenant_slug, target_id):
    """Calibrate the target's frames of one band across sites; its page then shows the job's
    progress, and the fused light curve once it is done. A refusal is shown there too."""
    require(request, "jobs.start")
    target = get_object_or_404(visible_targets(request.tenant, request.user), pk=target_id)
    band = request.POST.get("band", "").strip()
    try:
        request_calibration(request.tenant, request.user, target, band)
    except CalibrationRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Calibrating {target} in {band} across sites: the light curve below follows.")
    return redirect(reverse("target_detail", args=[tenant_slug, target.pk]) + "#fused-light-curve")
