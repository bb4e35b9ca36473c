"""What scheduling does with what the apps below it report (connected in ``SchedulingConfig.ready``):
a frame whose header names the request it was taken for is linked to that request's
observation on the frame's telescope."""

from django.dispatch import receiver

from observations.signals import frame_ingested
from portal.models import HeaderRule

from .models import ObservationFrame, ScheduledObservation

REQUEST_KEYWORD = "REQNUM"  # LCO's; a site's REQNUM header rule may name another


@receiver(frame_ingested, dispatch_uid="scheduling.link_frame_to_its_request")
def link_frame_to_its_request(sender, *, tenant, frame, run, **kwargs):
    """The rules are read once a run: a folder's frames come one by one."""
    if frame.telescope_id is None:
        return
    if "request_rules" not in run:
        run["request_rules"] = list(HeaderRule.objects.filter(tenant=tenant, keyword=HeaderRule.Keyword.REQNUM))
    telescope_name = str(frame.header.get("TELESCOP", "")).strip()
    rule = next((r for r in run["request_rules"] if r.site_id == frame.site_id and r.matches(telescope_name)), None)
    number = str(frame.header.get(rule.read_from if rule else REQUEST_KEYWORD, "")).strip()
    if not number.isdigit():
        return
    observation = (ScheduledObservation.objects.filter(tenant=tenant, request_id=int(number), telescope=frame.telescope,
                                                       state__in=[ScheduledObservation.State.STARTED,
                                                                  ScheduledObservation.State.COMPLETED])
                   .order_by("-start").first())  # fmt: skip
    if observation is not None:
        ObservationFrame.objects.get_or_create(tenant=tenant, observation=observation, frame=frame)
