"""Tonight's plan: from the database and the sky to each telescope's queue.

``build_problem`` gathers what may be observed in the coming day (approved proposals'
pending requests whose windows reach into it, and pending follow-ups), groups the tenant's
telescopes into interchangeable resources, places every target in every site's sky once
(``SiteSky.judge``) and turns the usable slices into the start slices each request may take.
``plan_night`` runs the configured planner on it, has ``checker.violations`` check the
result independently, and replaces the planned (not started) part of every queue in one
transaction. Observations under way keep their telescope until they end.
"""

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from portal.models import Telescope
from portal.plugins import plugin

from . import checker
from .models import (
    Configuration,
    FollowUpRequest,
    Proposal,
    Request,
    RequestGroup,
    ScheduledObservation,
    SchedulePlan,
    SiteCondition,
    TimeAllocation,
    Window,
    telescope_class,
)
from .planners import Candidate, Placement, Problem, Resource
from .proposals import ConfigurationSpec, request_seconds
from .services import announce_night
from .visibility import Constraints, SiteSky

logger = logging.getLogger(__name__)
HORIZON = timedelta(hours=24)  # every site's next night, wherever it is on Earth
# Follow-ups weigh more per hour than any proposal's request (priorities 1 to 100).
FOLLOW_UP_PRIORITY = {"normal": 150.0, "high": 200.0, "top": 300.0}
CHECK_AND_STORE_S = 0.8  # what checking and storing a plan of a few hundred observations takes
MIN_PLANNER_S = 0.5
PLANS_KEPT = timedelta(days=7)


@dataclass
class Asked:
    """What a candidate stands for and what it needs, read from its rows."""

    key: tuple  # ("request", id) or ("follow_up", id)
    target_id: int
    ra_deg: float
    dec_deg: float
    constraints: Constraints
    windows: list  # (start, end)
    needs: frozenset  # (instrument code, filter name) pairs; empty: any imager
    telescope_class: str | None  # None: any class
    priority: float
    seconds: float
    proposal_id: int | None = None  # charged to its allocation on the class; None: the observatory's own time
    urgent: bool = False  # a target of opportunity: into the queue first, as early as it fits
    max_seeing_arcsec: float | None = None


def plan_start(now=None):
    """The next slice boundary: plans start on a grid so a re-plan can reuse the last one's places."""
    now = now or timezone.now()
    step = settings.SCHEDULING_SLICE_SECONDS
    return now + timedelta(seconds=(-now.timestamp()) % step)


def build_problem(tenant, start):
    """(Problem, {key: why it cannot be placed tonight at all})."""
    step = settings.SCHEDULING_SLICE_SECONDS
    end = start + HORIZON
    slices = int(HORIZON.total_seconds() // step)
    closed = dict(SiteCondition.objects.filter(tenant=tenant, open=False).values_list("site_id", "reason"))
    seeing = _seeing(tenant, start, step, slices)
    resources, members = _resources(tenant, start, step, slices, closed)
    asked = _requests(tenant, start, end) + _follow_ups(tenant, start, end)
    budgets, allocation_of = _budgets(tenant)
    sites = {site.pk: site for site, _, _ in members}
    skies = {pk: _sky(site, start, slices) for pk, site in sites.items()}
    edges = np.array([start + timedelta(seconds=step * i) for i in range(slices + 1)])
    # Each target under each set of constraints asked of it, placed in every site's sky at once.
    column = {(a.target_id, a.constraints): a for a in asked}
    column = {pair: (i, a) for i, (pair, a) in enumerate(column.items())}
    judged = {pk: sky.judge([a.ra_deg for _, a in column.values()], [a.dec_deg for _, a in column.values()],
                            [constraints for _, constraints in column], night_only=True) if column else None
              for pk, sky in skies.items()}  # fmt: skip
    usable_at = {pk: judgement.usable for pk, judgement in judged.items() if judgement is not None}
    possible = np.arange(slices)
    candidates, unplaceable = [], {}
    for item in asked:
        length = math.ceil(item.seconds / step)
        inside = np.zeros(slices, bool)
        for window_start, window_end in item.windows:
            inside |= (edges[:-1] >= window_start) & (edges[1:] <= window_end)
        starts, where = {}, []
        at = column[(item.target_id, item.constraints)][0]
        for index, (site, name, offered) in enumerate(members):
            if item.telescope_class not in (None, name) or not item.needs <= offered:
                continue
            where.append(site.pk)
            usable = usable_at[site.pk][:, at] & inside & (resources[index].capacity > 0)
            if item.max_seeing_arcsec and seeing.get(site.pk, (0, 0))[0] > item.max_seeing_arcsec:
                usable[: seeing[site.pk][1]] = False  # while the measurement holds
            run = np.concatenate([[0], np.cumsum(~usable)])
            could = possible[: max(0, slices - length + 1)]
            fit = could[run[could + length] == run[could]]
            if len(fit):
                starts[index] = fit
        if starts:
            account = allocation_of.get((item.proposal_id, item.telescope_class)) if item.proposal_id else None
            candidates.append(Candidate(item.key, item.priority, item.seconds, length, starts, account, item.urgent))
        else:
            unplaceable[item.key] = _why_not(item, [(skies[pk], judged[pk].of(at)) for pk in dict.fromkeys(where)],
                                             inside, length, closed, seeing)  # fmt: skip
    problem = Problem(start, step, slices, resources, candidates, budgets)
    return problem, unplaceable


_SKIES = {}  # (the site's place, UTC day, slice) → its sky over two days from that midnight


def _sky(site, start, slices):
    """The site's sky over the plan's slices, cut from its sky over two days from the UTC
    midnight before ``start``: a re-plan (within seconds of a follow-up, a report or a change
    of weather) finds the Sun and Moon of the day already placed (about 0.3 s a site saved
    of the seconds it has). Plans start on the slice grid, which midnights are on."""
    step = settings.SCHEDULING_SLICE_SECONDS
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    key = (site.pk, site.latitude_deg, site.longitude_deg, site.height_m, midnight, step)
    if key not in _SKIES:
        if len(_SKIES) >= 32:  # a few days of a few observatories' sites
            _SKIES.clear()
        _SKIES[key] = SiteSky.over(site, midnight, midnight + timedelta(days=2), slice_minutes=step / 60)
    first = round((start - midnight).total_seconds() / step)
    return _SKIES[key].part(first, first + slices, site)


def _resources(tenant, start, step, slices, closed):
    """Resources and, for each, (site, telescope class, (instrument, filter) pairs offered);
    ``closed``: {site id: reason} of the sites that cannot observe now."""
    groups = defaultdict(list)
    telescopes = Telescope.objects.filter(tenant=tenant, active=True).select_related("site")
    for telescope in telescopes.prefetch_related("instruments__filters"):
        offered = frozenset((i.code, f.name) for i in telescope.instruments.all() for f in i.filters.all())
        groups[(telescope.site, telescope_class(telescope.aperture_m), offered)].append(telescope)
    busy = dict(ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.STARTED,
                                                    end__gt=start).values_list("telescope_id", "end"))  # fmt: skip
    resources, members = [], []
    for (site, name, offered), group in groups.items():
        busy_until = {t.pk: min(slices, math.ceil((busy[t.pk] - start).total_seconds() / step))
                      for t in group if t.pk in busy}  # fmt: skip
        capacity = np.full(slices, 0 if site.pk in closed else len(group), np.int32)  # closed: until it reopens
        for until in busy_until.values():
            capacity[:until] = np.maximum(0, capacity[:until] - 1)
        resources.append(Resource(f"{site.code} {name} ×{len(group)}", [t.pk for t in group], capacity, busy_until))
        members.append((site, name, offered))
    return resources, members


def _requests(tenant, start, end):
    """Approved proposals' requests waiting for a window that reaches into the plan, as three
    flat queries (rows, then their windows and configurations by id): thousands of model
    instances with prefetched children cost seconds a re-plan does not have."""
    in_progress = ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.STARTED,
                                                      request__isnull=False).values("request_id")  # fmt: skip
    requests = (Request.objects.filter(tenant=tenant, state__in=[Request.State.PENDING, Request.State.SCHEDULED],
                                       group__proposal__status=Proposal.Status.APPROVED)
                .filter(Exists(Window.objects.filter(request=OuterRef("pk"), end__gt=start, start__lt=end)))
                .exclude(pk__in=in_progress))  # fmt: skip
    fields = ("pk", "telescope_class", "max_airmass", "min_lunar_distance_deg", "max_lunar_illumination", "target_id",
              "target__ra_deg", "target__dec_deg", "group__priority", "group__proposal_id",
              "group__observation_type", "max_seeing_arcsec")  # fmt: skip
    rows = list(requests.values(*fields))
    ids = [row["pk"] for row in rows]
    windows, configurations = defaultdict(list), defaultdict(list)
    for request_id, *window in Window.objects.filter(request_id__in=ids).values_list("request_id", "start", "end"):
        windows[request_id].append(tuple(window))
    specs = (
        Configuration.objects.filter(request_id__in=ids)
        .order_by("order")
        .values_list("request_id", "instrument", "filter_name", "exposure_s", "exposure_count")
    )
    for request_id, *spec in specs:
        configurations[request_id].append(ConfigurationSpec(*spec))
    return [Asked(key=("request", row["pk"]), target_id=row["target_id"], ra_deg=row["target__ra_deg"],
                  dec_deg=row["target__dec_deg"],
                  constraints=Constraints(row["max_airmass"], row["min_lunar_distance_deg"],
                                          row["max_lunar_illumination"]),
                  windows=windows[row["pk"]],
                  needs=frozenset((c.instrument, c.filter_name) for c in configurations[row["pk"]]),
                  telescope_class=row["telescope_class"], priority=float(row["group__priority"]),
                  seconds=request_seconds(configurations[row["pk"]]), proposal_id=row["group__proposal_id"],
                  urgent=row["group__observation_type"] == RequestGroup.ObservationType.RAPID_RESPONSE,
                  max_seeing_arcsec=row["max_seeing_arcsec"])
            for row in rows]  # fmt: skip


def _follow_ups(tenant, start, end):
    in_progress = ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.STARTED,
                                                      follow_up__isnull=False).values("follow_up_id")  # fmt: skip
    follow_ups = FollowUpRequest.objects.filter(
        tenant=tenant, status__in=[FollowUpRequest.Status.PENDING, FollowUpRequest.Status.SCHEDULED]
    )
    rows = follow_ups.exclude(pk__in=in_progress).values("pk", "target_id", "target__ra_deg", "target__dec_deg",
                                                         "priority")  # fmt: skip
    return [Asked(key=("follow_up", row["pk"]), target_id=row["target_id"], ra_deg=row["target__ra_deg"],
                  dec_deg=row["target__dec_deg"], constraints=Constraints(), windows=[(start, end)],
                  needs=frozenset(), telescope_class=None, priority=FOLLOW_UP_PRIORITY[row["priority"]],
                  seconds=float(settings.SCHEDULING_FOLLOW_UP_SECONDS), urgent=True)
            for row in rows]  # fmt: skip


def _budgets(tenant):
    """(seconds left per allocation, less what observations under way will be charged;
    {(proposal id, telescope class): allocation id})."""
    allocations = TimeAllocation.objects.filter(tenant=tenant, proposal__status=Proposal.Status.APPROVED)
    left = {a.pk: a.hours_remaining * 3600 for a in allocations}
    allocation_of = {(a.proposal_id, a.telescope_class): a.pk for a in allocations}
    under_way = ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.STARTED,
                                                    request__isnull=False).select_related("request__group")  # fmt: skip
    for observation in under_way:
        account = allocation_of.get((observation.request.group.proposal_id, observation.request.telescope_class))
        if account in left:
            left[account] -= (observation.end - observation.start).total_seconds()
    return left, allocation_of


def _seeing(tenant, start, step, slices):
    """{site id: (seeing measured, the slices from ``start`` its measurement still holds)} for
    the sites whose measurement holds into the plan (``SCHEDULING_SEEING_HOLDS_S``)."""
    held = {}
    for condition in SiteCondition.objects.filter(tenant=tenant, seeing_arcsec__isnull=False, seeing_at__isnull=False):
        if condition.seeing_until > start:
            slices_held = math.ceil((condition.seeing_until - start).total_seconds() / step)
            held[condition.site_id] = (condition.seeing_arcsec, min(slices, slices_held))
    return held


def _why_not(item, skies, inside, length, closed, seeing):
    """Why a candidate has no start slice tonight, in one sentence: ``skies`` holds, for each
    site with a telescope able to take it, the sky and the target's judgement there."""
    if not skies:
        needs = ", ".join(f"{instrument}/{name}" for instrument, name in sorted(item.needs)) or "an imager"
        return f"no active {item.telescope_class or ''} telescope offers {needs}".replace("  ", " ")
    if not inside.any():
        return "none of its windows falls in tonight's plan"
    said = []
    for sky, judgement in skies:
        if sky.site.pk in closed:
            said.append(f"at {sky.site.name}: the site is closed ({closed[sky.site.pk] or 'no reason given'})")
            continue
        arcsec, _ = seeing.get(sky.site.pk, (0, 0))
        if item.max_seeing_arcsec and arcsec > item.max_seeing_arcsec:
            said.append(f"at {sky.site.name}: the seeing measured ({arcsec:g}″) is worse than its limit "
                        f"({item.max_seeing_arcsec:g}″)")  # fmt: skip
            continue
        night = inside & sky.dark
        failing = [reason for reason, fails in judgement.failures.items() if fails[night].all()]
        if not night.any():
            failing = ["no astronomical night in its windows"]
        said.append(f"at {sky.site.name}: {failing[0] if failing else 'usable too briefly'}")
    minutes = length * settings.SCHEDULING_SLICE_SECONDS / 60
    return f"not observable for {minutes:g} min in a row within its windows tonight ({'; '.join(said)})"


class PlanBroken(RuntimeError):
    """Neither the planner's plan nor the greedy one passed the checker: nothing was stored."""


def plan_night(tenant, *, trigger=SchedulePlan.Trigger.PERIODIC, now=None, time_limit_s=None, planner=None):
    """Plan the coming night of ``tenant``'s telescopes and put it in their queues, within
    ``time_limit_s`` for the whole run. Returns the stored SchedulePlan, or None when another
    run for the tenant is under way (the caller decides whether to ask again)."""
    began = time.perf_counter()
    with _only_run(tenant) as alone:
        if not alone:
            return None
        start = plan_start(now)
        problem, unplaceable = build_problem(tenant, start)
        chosen = planner or plugin("SCHEDULING_PLANNERS", settings.SCHEDULING_PLANNER)
        hint = _previous_placements(tenant, problem)
        # The limit is the whole run's: the planner gets what reading and the sky left of it.
        whole = time_limit_s if time_limit_s is not None else settings.SCHEDULING_TIME_LIMIT_S
        limit = max(MIN_PLANNER_S, whole - (time.perf_counter() - began) - CHECK_AND_STORE_S)
        try:
            plan = chosen.plan(problem, time_limit_s=limit, hint=hint)
            observations = observations_of(tenant, problem, plan)
            broken = checker.violations(tenant, observations)
        except Exception:  # a planner's failure must not leave the telescopes without a queue
            logger.exception("the %s planner failed; planning greedily", chosen.name)
            broken = ["the planner failed"]
        if broken:
            logger.error("the %s plan broke %d rules (first: %s); planning greedily", chosen.name, len(broken),
                         broken[0])  # fmt: skip
            plan = plugin("SCHEDULING_PLANNERS", "greedy").plan(problem, time_limit_s=limit)
            plan.status = "fallback"
            observations = observations_of(tenant, problem, plan)
            broken = checker.violations(tenant, observations)
            if broken:
                raise PlanBroken("; ".join(broken[:5]))
        unscheduled = {f"{kind}:{pk}": reason for (kind, pk), reason in unplaceable.items()}
        unscheduled.update(_why_left_out(problem, plan))
        return _store(tenant, problem, plan, observations, unscheduled, trigger, time.perf_counter() - began)


def observations_of(tenant, problem, plan):
    """The plan as queue rows (not saved): each on its telescope from its start slice for as
    long as it takes."""
    rows = []
    for placement in plan.placements:
        candidate = problem.candidates[placement.candidate]
        kind, pk = candidate.key
        start = problem.slice_start(placement.start)
        rows.append(ScheduledObservation(
            tenant=tenant, telescope_id=placement.telescope, start=start,
            end=start + timedelta(seconds=candidate.seconds), priority=candidate.priority,
            request_id=pk if kind == "request" else None, follow_up_id=pk if kind == "follow_up" else None,
        ))  # fmt: skip
    return rows


def _why_left_out(problem, plan):
    placed = {p.candidate for p in plan.placements}
    left = dict(problem.budgets)
    for placement in plan.placements:
        candidate = problem.candidates[placement.candidate]
        if candidate.account is not None:
            left[candidate.account] -= candidate.seconds
    reasons = {}
    for index, candidate in enumerate(problem.candidates):
        if index in placed:
            continue
        kind, pk = candidate.key
        remaining = left.get(candidate.account, 0)
        if candidate.account is not None and remaining < candidate.seconds - 1e-6:
            needs, has = candidate.seconds / 3600, max(0, remaining) / 3600
            reasons[f"{kind}:{pk}"] = f"its proposal's time is used up: it needs {needs:.2f} h, {has:.2f} h are left"
        else:
            reasons[f"{kind}:{pk}"] = "outweighed: the slices it could take went to more priority × hours"
    return reasons


def _previous_placements(tenant, problem):
    """The last plan's planned observations that fit this problem's grid: a starting point."""
    index = {candidate.key: i for i, candidate in enumerate(problem.candidates)}
    resource_of = {t: r for r, resource in enumerate(problem.resources) for t in resource.telescopes}
    hint = []
    planned = ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.PLANNED,
                                                  start__gte=problem.start)  # fmt: skip
    for observation in planned.values("request_id", "follow_up_id", "telescope_id", "start"):
        key = (
            ("request", observation["request_id"])
            if observation["request_id"]
            else ("follow_up", observation["follow_up_id"])
        )
        offset = (observation["start"] - problem.start).total_seconds() / problem.slice_seconds
        if key in index and observation["telescope_id"] in resource_of and offset == int(offset):
            hint.append(Placement(index[key], resource_of[observation["telescope_id"]], int(offset)))
    return hint


def _store(tenant, problem, plan, observations, unscheduled, trigger, seconds):
    placed = {o.request_id for o in observations if o.request_id}
    followed = {o.follow_up_id for o in observations if o.follow_up_id}
    with transaction.atomic():
        ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.PLANNED).delete()
        # A plan every few minutes: those of past weeks are kept only while an observation made from them is.
        SchedulePlan.objects.filter(tenant=tenant, created_at__lt=timezone.now() - PLANS_KEPT,
                                    observations__isnull=True).delete()  # fmt: skip
        stored = SchedulePlan.objects.create(
            tenant=tenant, start=problem.start, end=problem.slice_start(problem.slices),
            slice_seconds=problem.slice_seconds, trigger=trigger, planner=plan.planner, status=plan.status,
            objective=plan.objective, bound=plan.bound, candidates=len(observations) + len(unscheduled),
            seconds=seconds, unscheduled=unscheduled,
            notes={**plan.notes, "planner_seconds": round(plan.seconds, 3)},
        )  # fmt: skip
        for observation in observations:
            observation.plan = stored
        ScheduledObservation.objects.bulk_create(observations)
        Request.objects.filter(tenant=tenant, state=Request.State.SCHEDULED).exclude(pk__in=placed).update(
            state=Request.State.PENDING
        )
        Request.objects.filter(tenant=tenant, pk__in=placed).update(state=Request.State.SCHEDULED)
        FollowUpRequest.objects.filter(tenant=tenant, status=FollowUpRequest.Status.SCHEDULED).exclude(
            pk__in=followed
        ).update(status=FollowUpRequest.Status.PENDING)
        FollowUpRequest.objects.filter(tenant=tenant, pk__in=followed).update(status=FollowUpRequest.Status.SCHEDULED)
        announce_night(tenant.pk)
    return stored


class _only_run:
    """A session advisory lock per tenant: one plan at a time, a second run returns at once."""

    def __init__(self, tenant):
        self.key = 0x5C4ED000 + tenant.pk

    def __enter__(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            self.held = cursor.fetchone()[0]
        return self.held

    def __exit__(self, *exc):
        if self.held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.key])
