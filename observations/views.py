"""Target pages: list and search, detail, create."""

from astropy import units as u
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render

from portal.permissions import require
from portal.tables import download_format

from . import services
from .downloads import fused_light_curve_download, light_curve_download, target_download
from .forms import ConeSearchForm, TargetFieldsForm, TargetForm, TargetImportForm
from .importing import TargetListError, import_targets
from .models import Frame, FrameTarget, TargetImage
from .plots import fused_light_curve, light_curve, neighbourhood
from .resolver import resolve_name
from .sky import PositionError, parse_cone, parse_position

NEIGHBOURHOOD_ARCMIN = 30
ACTIVE = ("queued", "running")  # a job's states while its page waits for it


def target_list(request, tenant_slug):
    """Every target this member may see, by name, kind or a cone around any position."""
    form = ConeSearchForm(request.GET or None)
    targets = services.visible_targets(request.tenant, request.user).select_related("tenant")
    cone = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            cone = parse_cone(position=data["position"], radius=data["radius"], frame=data["frame"] or "icrs")
        except PositionError as error:
            form.add_error(error.field if error.field in form.fields else "position", error.message)
        if cone:
            targets = services.cone_search(request.tenant, *cone, user=request.user, kind=data["kind"], name=data["q"])
            prefetch_related_objects(targets, "tenant")
        else:
            targets = services.search_targets(targets, data)
    fmt = download_format(request.GET)
    if fmt and not form.errors:  # every target the search found, not one page of them
        return target_download(targets, fmt, cone=cone)
    page = Paginator(targets, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("download", None)
    return render(
        request,
        "observations/target_list.html",
        {"form": form, "page": page, "cone": cone, "query": query.urlencode()},
    )


def target_light_curve(request, tenant_slug, target_id):
    """A target's light curve as a VOTable or CSV file (``download``), every measurement."""
    target = get_object_or_404(services.visible_targets(request.tenant, request.user), pk=target_id)
    points = services.light_curve_points(request.tenant, target)
    return light_curve_download(target, points, download_format(request.GET) or "votable")


def target_fused_light_curve(request, tenant_slug, target_id):
    """A target's light curve fused across sites as a VOTable or CSV file (``download``), an epoch a row."""
    target = get_object_or_404(services.visible_targets(request.tenant, request.user), pk=target_id)
    curve = services.fused_light_curve(request.tenant, target)
    return fused_light_curve_download(target, curve, download_format(request.GET) or "votable")


def target_detail(request, tenant_slug, target_id):
    target = get_object_or_404(services.visible_targets(request.tenant, request.user), pk=target_id)
    centre = services.target_coordinate(target)
    points = list(services.light_curve_points(request.tenant, target))
    fused = services.fused_light_curve(request.tenant, target, points=points) if points else None
    calibrations = list(target.calibrations.filter(tenant=request.tenant).select_related("job")[:5])
    neighbours = services.cone_search(
        request.tenant, centre, NEIGHBOURHOOD_ARCMIN * u.arcmin, user=request.user, limit=200
    )
    return render(
        request,
        "observations/target_detail.html",
        {
            "target": target,
            "positions": services.position_table(target),
            "neighbours": [n for n in neighbours if n.pk != target.pk][:20],
            "neighbourhood": neighbourhood(target, neighbours, NEIGHBOURHOOD_ARCMIN),
            "radius_arcmin": NEIGHBOURHOOD_ARCMIN,
            "can_edit": target.tenant_id == request.tenant.pk,
            "frames": Frame.objects.filter(tenant=request.tenant, target_links__target=target).select_related(
                "site", "telescope"
            )[:100],
            "cutouts": FrameTarget.objects.filter(tenant=request.tenant, target=target)
            .exclude(cutout="")
            .select_related("frame__site")
            .order_by("-frame__obs_time")[:24],
            "light_curve": light_curve(points) if points else None,
            "fused_light_curve": fused,
            "fused_light_curve_figure": fused_light_curve(fused, points) if fused and fused.epochs else None,
            "calibrations": calibrations,
            "calibrating": next((run for run in calibrations if run.job and run.job.status in ACTIVE), None),
            "calibration_bands": sorted({point.filter_name for point in points}),
            "fused_images": target.fused_images.filter(tenant=request.tenant).select_related("job")[:10],
            "photometry": points,
            "images": target.images.select_related("site").prefetch_related(
                "predictions__version__model", "labeling_subjects__project"
            )[:4],
            "sites_imaged": target.images.exclude(site=None).values("site").distinct().count(),
            "fused_predictions": target.fused_predictions.select_related("version__model"),
        },
    )


def target_image_file(request, tenant_slug, image_id, kind):
    """A target's colour image: the FITS cube, or its colour PNG for pages."""
    image = get_object_or_404(
        TargetImage.objects.filter(target__in=services.visible_targets(request.tenant, request.user)), pk=image_id
    )
    if kind == "fits":
        name = f"{image.target.name}-{''.join(image.bands)}.fits".replace(" ", "_")
        return FileResponse(image.file.open("rb"), as_attachment=True, filename=name)
    if kind != "png":
        raise Http404("Target images have a 'fits' and a 'png' form.")
    return FileResponse(image.preview.open("rb"), content_type="image/png")


def target_create(request, tenant_slug):
    require(request, "targets.change")
    form = TargetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            position, frame = data.pop("position"), data.pop("frame")
            coordinate = parse_position(position, frame) if position else resolve_name(data["name"])
            target = services.create_target(request.tenant, request.user, coordinate=coordinate, **data)
        except PositionError as error:
            form.add_error(error.field if error.field in form.fields else "position", error.message)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect("target_detail", tenant_slug=tenant_slug, target_id=target.pk)
    return render(request, "observations/target_form.html", {"form": form})


def target_edit(request, tenant_slug, target_id):
    """Rename, re-tag, re-classify or share a target of this observatory."""
    require(request, "targets.change")
    target = get_object_or_404(
        services.visible_targets(request.tenant, request.user).filter(tenant=request.tenant), pk=target_id
    )
    form = TargetFieldsForm.for_target(target, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_target(target, **form.cleaned_data)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect("target_detail", tenant_slug=tenant_slug, target_id=target.pk)
    return render(request, "observations/target_form.html", {"form": form, "target": target})


def target_import(request, tenant_slug):
    """Upload a CSV or VOTable list; every row is reported as created or skipped with its reason."""
    require(request, "targets.change")
    form = TargetImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = import_targets(
                request.tenant, request.user, upload.read(), upload.name, visibility=form.cleaned_data["visibility"]
            )
        except TargetListError as error:
            form.add_error("file", str(error))
    return render(request, "observations/target_import.html", {"form": form, "report": report})
