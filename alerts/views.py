"""The alerts dashboard: the feed live (table, sky map), and one alert's stamps, light curve
and classifications beside it."""

import gzip

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from observations.images import ImageError, read_pixels
from observations.ingest import preview_png

from . import feed, plots
from .models import Alert, AlertFilter

STAMPS = ("science", "template", "difference")


def dashboard(request, tenant_slug):
    """Opens with the newest published alerts (of one of the user's filters, if chosen), then
    listens on the feed's websocket from the last one it shows."""
    filters = list(AlertFilter.objects.filter(tenant=request.tenant, user=request.user))
    chosen = next((f for f in filters if str(f.pk) == request.GET.get("filter")), None)
    recent = feed.recent(request.tenant, alert_filter=chosen)
    return render(request, "alerts/dashboard.html", {
        "filters": filters, "chosen": chosen, "recent": recent, "sky_map": plots.sky_map(recent),
        "last_id": max((m["id"] for m in recent), default=0),
    })  # fmt: skip


def alert_panel(request, tenant_slug, alert_id):
    """One alert beside the table: its stamps, its object's light curve, what the models said."""
    alert = get_object_or_404(Alert.objects.filter(tenant=request.tenant).select_related("alert_object__target"),
                              pk=alert_id)  # fmt: skip
    siblings = list(alert.alert_object.alerts.order_by("mjd"))
    classifications = alert.classifications.select_related("version__model").order_by("version__model__name")
    return render(request, "alerts/_panel.html", {
        "alert": alert, "stamps": STAMPS, "classifications": classifications,
        "light_curve": plots.light_curve(siblings),
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
