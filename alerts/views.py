"""The alerts dashboard: the feed live (table, sky map), and one alert's stamps, light curve
and classifications beside it; the astronomer's filters, and follow-up requests."""

from astropy import units as u
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from observations.fits import ImageError, inflate_fits, read_pixels
from observations.models import Target
from observations.rendering import preview_png
from observations.services import nearest_targets
from portal.parameters import ParameterInvalid
from portal.permissions import may, require
from portal.tables import download_format
from scheduling.models import FollowUpRequest

from . import downloads, feed, plots
from .dashboard import sky_points, stream_status
from .features import CLASS_NAMES
from .filters import in_words
from .followup import FollowUpRefused, request_follow_up
from .forms import AlertFilterForm
from .models import Alert, AlertFilter, DeadLetter
from .packets import STAMPS

PAGE = 50  # rows the dashboard's table holds: one page, however many alerts the night brings
MAP_POINTS = 2000  # the newest alerts on the sky map
CLASS_LABELS = {**CLASS_NAMES, "": "unclassified"}


def dashboard(request, tenant_slug):
    """Opens with the newest page of published alerts (of one of the user's filters, if
    chosen) and the newest ``MAP_POINTS`` on the sky map, then listens on the feed's websocket
    from the last one it shows. A night's thousands of alerts stay out of the page: older
    ones come a page at a time (``alert_page``)."""
    filters = _worded(request.tenant, list(AlertFilter.objects.filter(tenant=request.tenant, user=request.user)))
    chosen = next((f for f in filters if str(f.pk) == request.GET.get("filter")), None)
    newest = feed.recent(request.tenant, alert_filter=chosen, count=PAGE + 1)
    dead_letters = 0
    if may(request.tenant_role, "alerts.dead_letters"):
        dead_letters = DeadLetter.objects.filter(tenant=request.tenant).count()
    return render(request, "alerts/dashboard.html", {
        "filters": filters, "chosen": chosen, "recent": newest[-PAGE:], "older": len(newest) > PAGE,
        "sky_map": plots.sky_map(sky_points(request.tenant, alert_filter=chosen, count=MAP_POINTS), CLASS_LABELS),
        "class_labels": CLASS_LABELS, "page_size": PAGE, "map_points": MAP_POINTS,
        "last_id": max((m["id"] for m in newest), default=0), "dead_letters": dead_letters,
        "stream": stream_status(request.tenant),
    })  # fmt: skip


def alert_page(request, tenant_slug):
    """A page of older alerts for the dashboard's table, newest first: ``before`` an alert id,
    of the user's filter ``filter`` if given; ``older`` says whether more lie beyond."""
    before, chosen = request.GET.get("before", ""), request.GET.get("filter", "")
    if not before.isdigit() or (chosen and not chosen.isdigit()):
        return JsonResponse({"detail": "before must be an alert id, and filter one of your filters' ids"}, status=400)
    alert_filter = None
    if chosen:
        alert_filter = get_object_or_404(AlertFilter, tenant=request.tenant, user=request.user, pk=chosen)
    alerts = feed.recent(request.tenant, alert_filter=alert_filter, count=PAGE + 1, before=int(before))
    return JsonResponse({"alerts": alerts[-PAGE:][::-1], "older": len(alerts) > PAGE})


def alert_download(request, tenant_slug):
    """The published alerts of the observatory, or of one of the user's filters, newest first,
    as a VOTable or CSV file (``download``)."""
    fmt = download_format(request.GET) or "votable"
    chosen = request.GET.get("filter", "")
    alert_filter = None
    if chosen:
        if not chosen.isdigit():
            raise ParameterInvalid("filter", f"one of your alert filters' ids is required, got {chosen!r}")
        alert_filter = get_object_or_404(AlertFilter, tenant=request.tenant, user=request.user, pk=chosen)
    alerts = feed.published(request.tenant, alert_filter).order_by("-pk")
    name = f"alerts-{alert_filter.name}" if alert_filter else f"alerts-{request.tenant.slug}"
    title = f"Alerts of {request.tenant.name}" + (f" that met the filter {alert_filter.name!r}" if alert_filter else "")
    return downloads.alert_download(request.tenant, alerts, fmt, filename=slugify(name), title=title)


def alert_stream_status(request, tenant_slug):
    """Whether alerts are flowing, for the dashboard to ask now and then: a stream that stops
    in the night is said on the page, not hidden behind "live"."""
    return JsonResponse(stream_status(request.tenant).as_json())


def _worded(tenant, filters):
    """``filters``, each with ``words``: its conditions as a sentence, naming its targets and
    the target at its cone's centre (within an arcsecond), if the observatory has one there."""
    ids = {pk for f in filters for pk in f.conditions.get("targets", [])}
    names = dict(Target.objects.filter(tenant=tenant, pk__in=ids).values_list("pk", "name"))
    cones = [f for f in filters if "cone" in f.conditions]
    positions = [(f.conditions["cone"]["ra_deg"], f.conditions["cone"]["dec_deg"]) for f in cones]
    centres = nearest_targets(tenant, positions, 1 * u.arcsec)
    at_centre = {f.pk: target.name for f, target in zip(cones, centres) if target is not None}
    for f in filters:
        f.words = in_words(f.conditions, target_names=names, centre_name=at_centre.get(f.pk))
    return filters


def alert_panel(request, tenant_slug, alert_id):
    """One alert beside the table: its stamps, its object's light curve, what the models said."""
    alert = get_object_or_404(Alert.objects.filter(tenant=request.tenant).select_related("alert_object__target"),
                              pk=alert_id)  # fmt: skip
    siblings = list(alert.alert_object.alerts.order_by("mjd"))
    classifications = alert.classifications.select_related("version__model").order_by("version__model__name")
    target = alert.alert_object.target
    pending = (
        None if target is None else target.follow_up_requests.filter(status=FollowUpRequest.Status.PENDING).first()
    )
    return render(request, "alerts/_panel.html", {
        "alert": alert, "stamps": STAMPS, "classifications": classifications,
        "light_curve": plots.light_curve(siblings), "pending_follow_up": pending,
        "may_follow_up": may(request.tenant_role, "alerts.follow_up"),
    })  # fmt: skip


def stamp_png(request, tenant_slug, alert_id, name):
    """A stamp as a PNG with ZScale limits, as ds9 would show it."""
    if name not in STAMPS:
        raise Http404(f"No {name} stamp: alerts have {', '.join(STAMPS)}.")
    alert = get_object_or_404(Alert.objects.filter(tenant=request.tenant).only(f"{name}_stamp"), pk=alert_id)
    try:
        pixels, _ = read_pixels(inflate_fits(getattr(alert, f"{name}_stamp")))
    except ImageError as error:
        raise Http404(f"The {name} stamp cannot be read: {error}") from error
    response = HttpResponse(preview_png(pixels), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"  # a stamp never changes
    return response


def filter_list(request, tenant_slug):
    """The user's filters: what each asks (in words), how often it matched, where its webhook stands."""
    filters = (AlertFilter.objects.filter(tenant=request.tenant, user=request.user)
               .annotate(match_count=Count("matches", distinct=True)).prefetch_related("deliveries"))  # fmt: skip
    return render(request, "alerts/filter_list.html", {"filters": _worded(request.tenant, list(filters))})


def filter_form(request, tenant_slug, filter_id=None):
    """Write a new filter, or change one; on saving, the dashboard shows its feed."""
    alert_filter = AlertFilter(tenant=request.tenant, user=request.user)
    if filter_id is not None:
        alert_filter = get_object_or_404(AlertFilter, tenant=request.tenant, user=request.user, pk=filter_id)
        _worded(request.tenant, [alert_filter])  # what it asks now, before the form changes it
    form = AlertFilterForm(request.POST or None, instance=alert_filter, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        alert_filter = form.save()
        messages.success(request, f"Filter “{alert_filter.name}” saved; its matches from now on appear below.")
        return redirect(f"{reverse('alert_dashboard', args=[tenant_slug])}?filter={alert_filter.pk}")
    return render(request, "alerts/filter_form.html", {"form": form, "alert_filter": alert_filter})


@require_POST
def filter_delete(request, tenant_slug, filter_id):
    alert_filter = get_object_or_404(AlertFilter, tenant=request.tenant, user=request.user, pk=filter_id)
    alert_filter.delete()
    messages.success(request, f"Filter “{alert_filter.name}” deleted.")
    return redirect("alert_filters", tenant_slug=tenant_slug)


@require_POST
def follow_up(request, tenant_slug, alert_id):
    """The panel's "Request follow-up" button: a pending target-of-opportunity request."""
    require(request, "alerts.follow_up")
    alert = get_object_or_404(Alert.objects.filter(tenant=request.tenant).select_related("alert_object__target"),
                              pk=alert_id)  # fmt: skip
    try:
        made = request_follow_up(alert, user=request.user, priority=request.POST.get("priority", "top"),
                                 note=request.POST.get("note", ""))  # fmt: skip
        messages.success(request, f"Follow-up of {made.target.name} requested; it waits for the scheduler.")
    except FollowUpRefused as refusal:
        messages.error(request, f"No follow-up requested: {refusal}.")
    return redirect("follow_ups", tenant_slug=tenant_slug)


def follow_ups(request, tenant_slug):
    """Follow-up requests of the observatory, newest first: what the scheduler will take."""
    requests = FollowUpRequest.objects.filter(tenant=request.tenant).select_related(
        "target", "from_alert__alert__alert_object", "requested_by", "from_alert__rule"
    )[:200]
    return render(request, "alerts/follow_ups.html", {"requests": requests})
