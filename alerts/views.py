"""The alerts dashboard: the feed live (table, sky map), and one alert's stamps, light curve
and classifications beside it; the astronomer's filters, and follow-up requests."""

import gzip

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from observations.images import ImageError, read_pixels
from observations.ingest import preview_png
from portal.models import Role
from portal.views import require_role

from . import feed, plots
from .followup import FOLLOW_UP_ROLES, FollowUpRefused, request_follow_up
from .forms import AlertFilterForm
from .models import Alert, AlertFilter, DeadLetter, FollowUpRequest

STAMPS = ("science", "template", "difference")


def dashboard(request, tenant_slug):
    """Opens with the newest published alerts (of one of the user's filters, if chosen), then
    listens on the feed's websocket from the last one it shows."""
    filters = list(AlertFilter.objects.filter(tenant=request.tenant, user=request.user))
    chosen = next((f for f in filters if str(f.pk) == request.GET.get("filter")), None)
    recent = feed.recent(request.tenant, alert_filter=chosen)
    dead_letters = DeadLetter.objects.filter(tenant=request.tenant).count() if request.tenant_role == Role.ADMIN else 0
    return render(request, "alerts/dashboard.html", {
        "filters": filters, "chosen": chosen, "recent": recent, "sky_map": plots.sky_map(recent),
        "last_id": max((m["id"] for m in recent), default=0), "dead_letters": dead_letters,
    })  # fmt: skip


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
        "may_follow_up": request.tenant_role in FOLLOW_UP_ROLES,
    })  # fmt: skip


def stamp_png(request, tenant_slug, alert_id, name):
    """A stamp as a PNG with ZScale limits, as ds9 would show it."""
    if name not in STAMPS:
        raise Http404(f"No {name} stamp: alerts have {', '.join(STAMPS)}.")
    alert = get_object_or_404(Alert.objects.filter(tenant=request.tenant).only(f"{name}_stamp"), pk=alert_id)
    try:
        pixels, _ = read_pixels(gzip.decompress(bytes(getattr(alert, f"{name}_stamp"))))
    except (OSError, EOFError, ImageError) as error:
        raise Http404(f"The {name} stamp cannot be read: {error}") from error
    response = HttpResponse(preview_png(pixels), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"  # a stamp never changes
    return response


def filter_list(request, tenant_slug):
    """The user's filters: what each asks, how often it matched, where its webhook stands."""
    filters = (AlertFilter.objects.filter(tenant=request.tenant, user=request.user)
               .annotate(match_count=Count("matches", distinct=True)).prefetch_related("deliveries"))  # fmt: skip
    return render(request, "alerts/filter_list.html", {"filters": filters})


def filter_form(request, tenant_slug, filter_id=None):
    """Write a new filter, or change one; on saving, the dashboard shows its feed."""
    alert_filter = AlertFilter(tenant=request.tenant, user=request.user)
    if filter_id is not None:
        alert_filter = get_object_or_404(AlertFilter, tenant=request.tenant, user=request.user, pk=filter_id)
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
    require_role(request, *FOLLOW_UP_ROLES)
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
    requests = (FollowUpRequest.objects.filter(tenant=request.tenant)
                .select_related("target", "alert__alert_object", "requested_by", "rule")[:200])  # fmt: skip
    return render(request, "alerts/follow_ups.html", {"requests": requests})
