"""Scheduling pages: tonight's plan as a Gantt chart per telescope, what was left out and why,
the sites' conditions, and the proposals with their allocations."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.models import Site, Telescope
from portal.permissions import require

from . import plots, queues
from .models import FollowUpRequest, Proposal, Request, ScheduledObservation, SchedulePlan, SiteCondition
from .services import replan_after_commit

LEFT_OUT_SHOWN = 200


def night(request, tenant_slug):
    """The latest plan of the coming night: each telescope's queue, how good the plan is,
    and why each request it left out was left out."""
    plan = SchedulePlan.objects.filter(tenant=request.tenant).first()
    telescopes = list(Telescope.objects.filter(tenant=request.tenant, active=True).select_related("site"))
    observations = []
    if plan is not None:
        observations = list(ScheduledObservation.objects.filter(tenant=request.tenant, end__gt=plan.start,
                                                                start__lt=plan.end)
                            .select_related("request__target", "follow_up__target"))  # fmt: skip
    conditions = {c.site_id: c for c in SiteCondition.objects.filter(tenant=request.tenant)}
    sites = [(site, conditions.get(site.pk)) for site in Site.objects.filter(tenant=request.tenant)]
    left_out = _named(request.tenant, sorted((plan.unscheduled if plan else {}).items())[:LEFT_OUT_SHOWN])
    return render(request, "scheduling/night.html", {
        "plan": plan, "sites": sites, "left_out": left_out, "left_out_count": len(plan.unscheduled) if plan else 0,
        "placed": sum(o.state == ScheduledObservation.State.PLANNED for o in observations),
        "gantt": plots.night_figure(observations, telescopes, timezone.now()) if observations else None,
    })  # fmt: skip


def _named(tenant, reasons):
    """[(what was asked, for which target, under what, why it waits)] from a plan's
    ``{"request:12": why}``: the rows each key names, two queries in all."""
    ids = {"request": [], "follow_up": []}
    for key, _ in reasons:
        kind, pk = key.split(":")
        ids[kind].append(int(pk))
    requests = Request.objects.filter(tenant=tenant, pk__in=ids["request"]).select_related("target", "group__proposal")
    follow_ups = FollowUpRequest.objects.filter(tenant=tenant, pk__in=ids["follow_up"]).select_related("target")
    rows = {
        f"request:{r.pk}": (
            f"request {r.pk}",
            r.target,
            f"{r.group.proposal.title}: {r.group.name} (priority {r.group.priority})",
        )
        for r in requests
    }
    rows.update({f"follow_up:{f.pk}": (f"follow-up {f.pk}", f.target, f"{f.get_priority_display()} follow-up")
                 for f in follow_ups})  # fmt: skip
    return [(*rows[key], why) for key, why in reasons if key in rows]


@require_POST
def replan(request, tenant_slug):
    require(request, "telescopes.operate")
    replan_after_commit(request.tenant.pk, SchedulePlan.Trigger.MANUAL)
    messages.success(request, "The night is being planned again; this page shows the new plan in a few seconds.")
    return redirect("night", tenant_slug=tenant_slug)


@require_POST
def site_condition(request, tenant_slug, site_id):
    """Open or close a site (weather): the night is planned again without (or with) it."""
    require(request, "telescopes.operate")
    site = get_object_or_404(Site, tenant=request.tenant, pk=site_id)
    opening = request.POST.get("open") == "1"
    queues.set_site_condition(site, open=opening, reason=request.POST.get("reason", ""), user=request.user)
    messages.success(request, f"{site.name} is {'open' if opening else 'closed'}; the night is being planned again.")
    return redirect("night", tenant_slug=tenant_slug)


def proposals(request, tenant_slug):
    """Every proposal with where it stands and, once approved, its hours: granted, used, left."""
    listed = (Proposal.objects.filter(tenant=request.tenant).select_related("semester", "pi")
              .prefetch_related("allocations").order_by("-semester__start", "rank", "-created_at"))  # fmt: skip
    return render(request, "scheduling/proposals.html", {"proposals": listed})
