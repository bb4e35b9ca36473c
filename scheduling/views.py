"""Scheduling pages: tonight's plan as a Gantt chart per telescope, what was left out and why,
the sites' conditions; proposals written, submitted, reviewed and decided, with their hours."""

from collections import defaultdict
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.models import Filter, Site, Telescope
from portal.permissions import may, require

from . import plots, queues
from .forms import DecisionForm, ProposalForm, RequestFormSet, RequestGroupForm, ReviewForm, SemesterForm
from .models import FollowUpRequest, Proposal, Request, ScheduledObservation, SchedulePlan, SiteCondition
from .proposals import (
    SchedulingRefused,
    add_request_group,
    create_proposal,
    create_semester,
    decide_proposal,
    may_request_under,
    review_proposal,
    submit_proposal,
    telescope_classes,
)
from .services import replan_after_commit
from .visibility import Constraints, SiteSky

LEFT_OUT_SHOWN = 200
VISIBILITY_SPAN = timedelta(days=3)


def night(request, tenant_slug):
    """The latest plan of the coming night: each telescope's queue (live: the page redraws it
    when a plan is made or a telescope reports), how good the plan is, the sites' conditions,
    and why each request it left out was left out."""
    plan, placed, gantt = _latest_night(request.tenant)
    conditions = {c.site_id: c for c in SiteCondition.objects.filter(tenant=request.tenant)}
    sites = [(site, conditions.get(site.pk)) for site in Site.objects.filter(tenant=request.tenant)]
    left_out = _named(request.tenant, sorted((plan.unscheduled if plan else {}).items())[:LEFT_OUT_SHOWN])
    return render(request, "scheduling/night.html", {
        "plan": plan, "placed": placed, "gantt": gantt, "sites": sites, "left_out": left_out,
        "left_out_count": len(plan.unscheduled) if plan else 0,
    })  # fmt: skip


def night_chart(request, tenant_slug):
    """The Gantt chart and the plan's summary as they are now, for the page to redraw."""
    plan, placed, gantt = _latest_night(request.tenant)
    summary = render_to_string("scheduling/_plan_summary.html", {"plan": plan, "placed": placed})
    return JsonResponse({"plan": plan and plan.pk, "figure": gantt, "summary": summary.strip()})


def _latest_night(tenant):
    """(the latest plan or None, how many observations it placed, its Gantt figure or None)."""
    plan = SchedulePlan.objects.filter(tenant=tenant).first()
    if plan is None:
        return None, 0, None
    observations = list(ScheduledObservation.objects.filter(tenant=tenant, end__gt=plan.start, start__lt=plan.end)
                        .select_related("request__target", "follow_up__target"))  # fmt: skip
    telescopes = list(Telescope.objects.filter(tenant=tenant, active=True).select_related("site"))
    placed = sum(o.plan_id == plan.pk for o in observations)
    return plan, placed, plots.night_figure(observations, telescopes, timezone.now()) if observations else None


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
    """Every proposal with where it stands and, once approved, its hours: granted, used, left;
    admins open semesters here."""
    listed = (Proposal.objects.filter(tenant=request.tenant).select_related("semester", "pi")
              .prefetch_related("allocations").order_by("-semester__start", "rank", "-created_at"))  # fmt: skip
    form = SemesterForm(request.POST or None)
    if request.method == "POST":
        require(request, "proposals.review")
        if form.is_valid():
            try:
                semester = create_semester(request.tenant, form.cleaned_data["code"], form.cleaned_data["start"],
                                           form.cleaned_data["end"])  # fmt: skip
                messages.success(request, f"Semester {semester.code} is open for proposals.")
                return redirect("proposals", tenant_slug=tenant_slug)
            except SchedulingRefused as refused:
                form.add_error(refused.field if refused.field in form.fields else None, str(refused))
    return render(request, "scheduling/proposals.html", {"proposals": listed, "semester_form": form})


def proposal_new(request, tenant_slug):
    """Write a draft proposal: title, abstract, science case, hours per telescope class, co-investigators."""
    require(request, "proposals.write")
    form = ProposalForm(request.POST or None, tenant=request.tenant, classes=sorted(telescope_classes(request.tenant)),
                        members=_members(request.tenant))  # fmt: skip
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            proposal = create_proposal(request.tenant, request.user, data["semester"], title=data["title"],
                                       hours=form.hours(), abstract=data["abstract"],
                                       science_case=data["science_case"],
                                       co_investigators=data["co_investigators"])  # fmt: skip
            messages.success(request, "Draft saved. Submit it when it is ready for review.")
            return redirect("proposal_detail", tenant_slug=tenant_slug, proposal_id=proposal.pk)
        except SchedulingRefused as refused:
            form.add_error(refused.field if refused.field in form.fields else None, str(refused))
    return render(request, "scheduling/proposal_form.html", {"form": form})


def proposal_detail(request, tenant_slug, proposal_id):
    """A proposal, its hours and request groups; its PI submits it, admins review and decide it."""
    proposal = get_object_or_404(Proposal.objects.filter(tenant=request.tenant).select_related("semester", "pi"),
                                 pk=proposal_id)  # fmt: skip
    allocations = list(proposal.allocations.all())
    review = ReviewForm(initial={"grade": proposal.grade, "rank": proposal.rank})
    decision = DecisionForm(allocations=allocations)
    if request.method == "POST":
        step = request.POST.get("step")
        require(request, "proposals.write" if step == "submit" else "proposals.review")
        try:
            if step == "submit":
                if proposal.pi_id != request.user.pk:
                    raise SchedulingRefused("pi", "only the proposal's PI submits it")
                submit_proposal(proposal)
                messages.success(request, "Submitted for review.")
            elif step == "review":
                review = ReviewForm(request.POST)
                if review.is_valid():
                    review_proposal(proposal, **review.cleaned_data)
                    messages.success(request, "Review saved.")
            elif step == "decide":
                decision = DecisionForm(request.POST, allocations=allocations)
                if decision.is_valid():
                    approve = decision.cleaned_data["approve"]
                    decide_proposal(proposal, approve=approve, granted=decision.granted() if approve else None)
                    messages.success(request, "Approved: its requests may now be made." if approve else "Rejected.")
            if not (review.errors or decision.errors):
                return redirect("proposal_detail", tenant_slug=tenant_slug, proposal_id=proposal.pk)
        except SchedulingRefused as refused:
            messages.error(request, str(refused))
            return redirect("proposal_detail", tenant_slug=tenant_slug, proposal_id=proposal.pk)
    groups = proposal.request_groups.annotate(requests_count=Count("requests")).order_by("-priority")
    return render(request, "scheduling/proposal_detail.html", {
        "proposal": proposal, "allocations": allocations, "groups": groups, "review": review, "decision": decision,
        "co_investigators": proposal.co_investigators.all(),
        "may_request": may(request.tenant_role, "proposals.write") and _may_request_under(request, proposal),
    })  # fmt: skip


def request_group_new(request, tenant_slug, proposal_id):
    """Make a request group under an approved proposal: its requests, each with a target, a
    telescope class and instrument, filters and exposures, a window with an optional cadence
    and the sky it needs. Nothing is stored unless every request can be observed within the
    proposal's time; a refusal is shown on the field it concerns."""
    require(request, "proposals.write")
    proposal = get_object_or_404(Proposal.objects.filter(tenant=request.tenant).select_related("semester"),
                                 pk=proposal_id)  # fmt: skip
    if not _may_request_under(request, proposal):
        raise PermissionDenied("Only the proposal's PI, its co-investigators and admins make its requests.")
    tenant = request.tenant
    classes = sorted(proposal.allocations.filter(hours_granted__gt=0).values_list("telescope_class", flat=True))
    choices = {"tenant": tenant, "classes": classes, **_equipment(tenant, classes)}
    group_form = RequestGroupForm(request.POST or None)
    formset = RequestFormSet(request.POST or None, prefix="requests", form_kwargs=choices)
    if request.method == "POST" and group_form.is_valid() and formset.is_valid():
        requests = [form for form in formset.forms if form.has_changed() and form.cleaned_data]
        try:
            group = add_request_group(proposal, request.user, requests=[form.spec() for form in requests],
                                      **group_form.cleaned_data)  # fmt: skip
        except SchedulingRefused as refused:
            _show_refusal(refused, group_form, requests)
        else:
            replan_after_commit(tenant.pk, SchedulePlan.Trigger.REQUESTED)
            made = group.requests.count()
            messages.success(request, f"{group.name}: {made} request{'s' if made != 1 else ''} in the queue; "
                                      "the night is being planned with them.")  # fmt: skip
            return redirect("proposal_detail", tenant_slug=tenant_slug, proposal_id=proposal.pk)
    return render(request, "scheduling/request_group_form.html", {
        "proposal": proposal, "group_form": group_form, "formset": formset,
        "allocations": proposal.allocations.filter(hours_granted__gt=0),
    })  # fmt: skip


def _equipment(tenant, classes):
    """The request form's lists, only what the proposal's classes have: instruments under
    their telescope class, filters under their instrument (so the first of each is usable)."""
    class_of = {t.pk: name for name, telescopes in telescope_classes(tenant).items() if name in classes
                for t in telescopes}  # fmt: skip
    offered = Filter.objects.filter(tenant=tenant, instrument__telescope__in=list(class_of))
    instruments, filters = defaultdict(set), defaultdict(set)
    for telescope_id, code, name in offered.values_list("instrument__telescope_id", "instrument__code", "name"):
        instruments[class_of[telescope_id]].add(code)
        filters[code].add(name)
    return {
        "instruments": [
            (name, [(code, code) for code in sorted(instruments[name])]) for name in classes if instruments[name]
        ],
        "filters": [(code, [(name, name) for name in sorted(names)]) for code, names in sorted(filters.items())],
    }


def _show_refusal(refused, group_form, requests):
    """``requests[2].configurations[1].filter_name`` goes to that field of the second request
    shown; a refusal of the group (its time, its priority) to the group's form."""
    if refused.field.startswith("requests[") and "]." in refused.field:
        number, rest = refused.field.removeprefix("requests[").split("].", 1)
        requests[int(number) - 1].show_refusal(rest, refused.message)
    else:
        group_form.add_error(refused.field if refused.field in group_form.fields else None, refused.message)


def _may_request_under(request, proposal):
    return may_request_under(request.user, request.tenant_role, proposal)


def _members(tenant):
    return get_user_model().objects.filter(memberships__tenant=tenant).order_by("username")


def request_detail(request, tenant_slug, request_id):
    """One request: what it asks for, when its target can be observed from each site with a
    telescope of its class (over its first window, at most three days of it), and where it
    stands in the queues; its proposal's people (and admins) may cancel it."""
    asked = get_object_or_404(Request.objects.filter(tenant=request.tenant)
                              .select_related("target", "group__proposal"), pk=request_id)  # fmt: skip
    if request.method == "POST":
        require(request, "proposals.write")
        if not _may_request_under(request, asked.group.proposal):
            raise PermissionDenied("Only the proposal's PI, its co-investigators and admins cancel its requests.")
        try:
            queues.cancel_request(asked)
            messages.success(request, f"Request {asked.pk} is cancelled; the night is being planned without it.")
        except SchedulingRefused as refused:
            messages.error(request, str(refused))
        return redirect("request_detail", tenant_slug=tenant_slug, request_id=asked.pk)
    windows = list(asked.windows.all())
    start, end = windows[0].start, min(windows[0].end, windows[0].start + VISIBILITY_SPAN)
    sites = {t.site_id: t.site for t in telescope_classes(request.tenant).get(asked.telescope_class, [])}
    constraints = Constraints(asked.max_airmass, asked.min_lunar_distance_deg, asked.max_lunar_illumination)
    skies = [SiteSky.over(site, start, end) for site in sites.values()]
    return render(request, "scheduling/request_detail.html", {
        "asked": asked, "windows": windows, "configurations": asked.configurations.all(),
        "observations": asked.scheduled.select_related("telescope__site").order_by("-start")[:20],
        "visibility": plots.visibility_figure(skies, asked.target.ra_deg, asked.target.dec_deg, constraints)
        if skies else None, "span": (start, end),
    })  # fmt: skip
