"""Frame repairs on pages: draw a mask on a frame (or take its flagged defects), watch the
repair being made, and compare the repaired frame and its photometry with the original."""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render

from observations.models import Frame
from observations.rendering import preview_factor
from portal.permissions import require

from .forms import RepairForm
from .models import FrameRepair
from .repairs import RepairRefused, flagged_defects, inpainting_version, request_repair


def repair_frame(request, tenant_slug, frame_id):
    """The frame with a drawing layer and the repair form; a refusal (nothing flagged, a mask of
    nothing or of everything, no inpainting model) comes back here, nothing queued."""
    frame = get_object_or_404(Frame, pk=frame_id, tenant=request.tenant)
    form = RepairForm(request.POST or None)
    if request.method == "POST":
        require(request, "jobs.start")
        if form.is_valid():
            try:
                repair = request_repair(request.tenant, frame, request.user, **form.cleaned_data)
            except RepairRefused as refusal:
                messages.error(request, str(refusal))
            else:
                return redirect("frame_repair_detail", tenant_slug=tenant_slug, frame_id=frame.pk, number=repair.number)
        else:
            messages.error(request, "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
    return render(request, "mlmodels/frame_repair_form.html", {
        "frame": frame, "form": form, "version": inpainting_version(request.tenant),
        "flagged": flagged_defects(frame), "max_fraction": settings.REPAIR_MAX_MASKED_FRACTION,
        "preview_factor": preview_factor(frame.height_px, frame.width_px),
    })  # fmt: skip


def frame_repair_detail(request, tenant_slug, frame_id, number):
    repair = get_object_or_404(FrameRepair.objects.select_related("frame", "version__model", "job", "created_by"),
                               frame_id=frame_id, number=number, tenant=request.tenant)  # fmt: skip
    return render(request, "mlmodels/frame_repair_detail.html", {"repair": repair, "frame": repair.frame,
                                                                 "job": repair.job})  # fmt: skip


FILES = {
    "fits": ("file", "application/fits"),
    "preview": ("preview", "image/png"),
    "mask": ("mask_preview", "image/png"),
}


def frame_repair_file(request, tenant_slug, frame_id, number, kind):
    repair = get_object_or_404(FrameRepair.objects.select_related("frame"), frame_id=frame_id, number=number,
                               tenant=request.tenant)  # fmt: skip
    if kind not in FILES or not repair.file:
        raise Http404("A repair has a 'fits', a 'preview' and a 'mask' file once its job has made them.")
    field, content_type = FILES[kind]
    stored = getattr(repair, field)
    if kind != "fits":
        return FileResponse(stored.open("rb"), content_type=content_type)
    return FileResponse(stored.open("rb"), as_attachment=True, filename=repair.download_name, content_type=content_type)
