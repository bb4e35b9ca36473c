"""What the alerts dashboard reads besides the feed's messages: the sky map's points, and
whether alerts are flowing (a page that says "live" over a table that does not move misleads
whoever watches it for a transient tonight)."""

import datetime
from dataclasses import dataclass

from django.utils import timezone
from django.utils.timesince import timesince

from .models import Alert, AlertStream
from .services import scores_by_alert

QUIET = datetime.timedelta(minutes=10)  # a broker sends several alerts a minute through the night


def sky_points(tenant, *, alert_filter=None, count):
    """The newest ``count`` published alerts (of ``alert_filter``) as the sky map draws them,
    oldest first, read as plain rows: built as the feed's messages, 2,000 of them took the
    page a second and more."""
    alerts = Alert.objects.filter(tenant=tenant, pending__isnull=True)
    if alert_filter is not None:
        alerts = alerts.filter(filter_matches__alert_filter=alert_filter)
    fields = ("id", "alert_object__object_id", "ra_deg", "dec_deg", "magnitude", "mjd", "observed_at")
    rows = list(alerts.order_by("-pk").values_list(*fields)[:count])
    scores = scores_by_alert(tenant, [row[0] for row in rows])
    return [{"id": pk, "object_id": object_id, "ra_deg": ra, "dec_deg": dec, "magnitude": magnitude, "mjd": mjd,
             "observed_at": observed.isoformat(), "class": scores[pk]["label"]}
            for pk, object_id, ra, dec, magnitude, mjd, observed in reversed(rows)]  # fmt: skip


@dataclass(frozen=True)
class StreamStatus:
    running: bool
    notice: str  # what the page says when nothing runs: why, and when the last alert came

    def as_json(self):
        return {"running": self.running, "notice": self.notice}


def stream_status(tenant, now=None):
    """Running while an enabled stream has stored a batch within ``QUIET`` and has not failed
    since, or any alert arrived within it (the REST API and the array's own detections
    count); otherwise the notice says what each stream is doing instead."""
    now = now or timezone.now()
    streams = list(AlertStream.objects.filter(tenant=tenant).order_by("name"))
    last_alert = Alert.objects.filter(tenant=tenant).order_by("-id").values_list("received_at", flat=True).first()
    if (last_alert is not None and now - last_alert < QUIET) or any(_receiving(s, now) for s in streams):
        return StreamStatus(True, "")
    enabled = [stream for stream in streams if stream.enabled]
    if not streams:
        why = "none is set up (an admin adds one under Admin › Alert streams; consume_alerts runs it)"
    elif not enabled:
        why = f"{_names(streams)} {'is' if len(streams) == 1 else 'are'} disabled"
    else:
        why = "; ".join(_why_quiet(stream, now) for stream in enabled)
    last = "no alert received yet" if last_alert is None else f"last alert received {_when(last_alert, now)}"
    return StreamStatus(False, f"No alert stream is running: {why}; {last}.")


def _receiving(stream, now):
    if not stream.enabled or stream.last_received_at is None or now - stream.last_received_at >= QUIET:
        return False
    return not stream.last_error  # a batch stored clears it: an error here came after the last batch


def _why_quiet(stream, now):
    if stream.last_error:
        return f"{stream.name} failed: {stream.last_error}"
    if stream.last_received_at is None:
        return f"{stream.name} has received nothing yet (is consume_alerts running?)"
    return (
        f"{stream.name} has received nothing since {_when(stream.last_received_at, now)} (is consume_alerts running?)"
    )


def _names(streams):
    return ", ".join(stream.name for stream in streams)


def _when(moment, now):
    ago = timesince(moment, now, depth=1).replace("\xa0", " ")  # it writes no-break spaces
    return f"{moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC ({ago} ago)"
