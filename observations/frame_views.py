"""Frame pages: list with filters, detail, preview and download, and the upload page."""

from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import get_valid_filename

from portal.models import Site
from portal.permissions import require
from portal.progress import queue_job, start_job
from portal.uploads import refused_uploads

from .fits import read_pixels
from .forms import FrameFilterForm, FrameUploadForm
from .frames import filter_frames
from .models import Frame, FrameTarget
from .plots import frame_footprint
from .rendering import preview_png


def frame_list(request, tenant_slug):
    form = FrameFilterForm(request.GET or None, tenant=request.tenant)
    frames = Frame.objects.filter(tenant=request.tenant).select_related("site", "telescope")
    if form.is_valid():
        frames = filter_frames(frames, form.cleaned_data)
    page = Paginator(frames, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "observations/frame_list.html", {"form": form, "page": page, "query": query.urlencode()})


def frame_detail(request, tenant_slug, frame_id):
    frame = get_object_or_404(Frame.objects.select_related("site", "telescope", "instrument"), pk=frame_id,
                              tenant=request.tenant)  # fmt: skip
    links = list(frame.target_links.select_related("target").order_by("target__name"))
    return render(
        request,
        "observations/frame_detail.html",
        {
            "frame": frame,
            "links": links,
            "footprint": frame_footprint(frame, links) if frame.has_astrometry else None,
            "predictions": frame.predictions.select_related("version__model").order_by("version__model__name"),
            "repairs": frame.repairs.select_related("version__model", "job"),
        },
    )


def frame_file(request, tenant_slug, frame_id, kind):
    """The stored FITS file or its preview, only to members of the frame's tenant."""
    frame = get_object_or_404(Frame, pk=frame_id, tenant=request.tenant)
    if kind not in ("preview", "fits"):
        raise Http404("Frames have a 'preview' and a 'fits' file.")
    if kind == "preview":
        return FileResponse(frame.preview.open("rb"), content_type="image/png")
    return FileResponse(frame.file.open("rb"), as_attachment=True, filename=frame.original_name)


def frame_upload(request, tenant_slug):
    """Stage the uploaded FITS files and ingest them in a worker; the job page shows each file
    as it is done (created, duplicate or rejected with the reason)."""
    require(request, "frames.upload")
    posted = request.method == "POST"
    form = FrameUploadForm(request.POST if posted else None, request.FILES if posted else None,
                           refusals=refused_uploads(request))  # fmt: skip
    if posted and form.is_valid():
        uploads = form.cleaned_data["files"]
        job = start_job(tenant=request.tenant, user=request.user, kind="ingest", total=len(uploads),
                        title=f"Ingest of {len(uploads)} frame{'s' if len(uploads) != 1 else ''}")  # fmt: skip
        folder = f"staging/{request.tenant.pk}/{job.pk}"
        staged = [default_storage.save(f"{folder}/{get_valid_filename(upload.name)}", upload) for upload in uploads]
        queue_job(job, "observations.tasks.ingest_staged_files", request.tenant.pk, job.pk, staged, request.user.pk)
        return redirect("job_detail", tenant_slug=tenant_slug, job_id=job.pk)
    sites = Site.objects.filter(tenant=request.tenant)
    return render(request, "observations/frame_upload.html", {"form": form, "sites": sites})


def cutout_file(request, tenant_slug, link_id, kind):
    """A target's cutout from a frame: the small FITS, or a PNG of it for pages."""
    link = get_object_or_404(FrameTarget.objects.exclude(cutout=""), pk=link_id, tenant=request.tenant)
    if kind == "fits":
        name = f"{link.target.name}-{link.frame.original_name.split('.')[0]}-cutout.fits".replace(" ", "_")
        return FileResponse(link.cutout.open("rb"), as_attachment=True, filename=name)
    if kind != "png":
        raise Http404("Cutouts have a 'fits' and a 'png' form.")
    with link.cutout.open("rb") as stored:
        pixels, _ = read_pixels(stored.read(), header=False)
    return HttpResponse(preview_png(pixels), content_type="image/png")
