"""Proposals and what they ask to observe: semesters, the proposal's way from draft to a
decision, the hours granted per telescope class, and request groups checked against the sky.

Every refusal is a ``SchedulingRefused`` naming the field at fault, raised before anything is
written: a request group is stored whole, in one transaction, or not at all.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from observations.models import Target
from portal.models import Filter, Telescope
from portal.permissions import may

from .models import (
    Configuration,
    Proposal,
    Request,
    RequestGroup,
    Semester,
    TimeAllocation,
    Window,
    telescope_class,
)
from .visibility import SLICE_MINUTES, Constraints, SiteSky, why_never

# Overheads an observation pays besides its exposures (LCO's 1-m network is of this order).
SLEW_AND_ACQUIRE_S = 90
READOUT_S = 10  # per exposure
FILTER_CHANGE_S = 2  # per configuration after the first
MAX_WINDOWS = 500  # a cadence's visits in one request group


class SchedulingRefused(ValueError):
    """Nothing was changed; ``field`` names what was wrong (for forms and problem bodies)."""

    def __init__(self, field_name, message):
        super().__init__(f"{field_name}: {message}")
        self.field, self.message = field_name, message


@dataclass
class ConfigurationSpec:
    instrument: str
    filter_name: str
    exposure_s: float
    exposure_count: int = 1


@dataclass
class RequestSpec:
    """One request as an astronomer writes it; ``cadence_hours`` (with ``jitter_hours``) turns
    each window into one visit every period, each its own request."""

    target_id: int
    telescope_class: str
    configurations: list
    windows: list  # (start, end) datetimes
    constraints: Constraints = field(default_factory=Constraints)
    cadence_hours: float | None = None
    jitter_hours: float = 2.0
    max_seeing_arcsec: float | None = None


def create_semester(tenant, code, start, end):
    if end <= start:
        raise SchedulingRefused("end", "a semester ends after it starts")
    if Semester.objects.filter(tenant=tenant, code=code).exists():
        raise SchedulingRefused("code", f"this observatory already has a semester {code}")
    return Semester.objects.create(tenant=tenant, code=code, start=start, end=end)


def telescope_classes(tenant):
    """{class: [active telescopes]} of the tenant."""
    classes = {}
    for telescope in Telescope.objects.filter(tenant=tenant, active=True).select_related("site"):
        classes.setdefault(telescope_class(telescope.aperture_m), []).append(telescope)
    return classes


def create_proposal(tenant, pi, semester, *, title, hours, abstract="", science_case="", co_investigators=()):
    """A draft proposal asking ``hours`` ({telescope class: hours}) in ``semester``."""
    if not title.strip():
        raise SchedulingRefused("title", "a proposal needs a title")
    if semester.tenant_id != tenant.pk:
        raise SchedulingRefused("semester", f"no semester {semester.pk} in this observatory")
    classes = telescope_classes(tenant)
    if not hours:
        raise SchedulingRefused("hours", "ask for hours on at least one telescope class")
    for name, asked in hours.items():
        if name not in classes:
            raise SchedulingRefused("hours", f"this observatory has no {name!r} telescope "
                                             f"(its classes: {', '.join(sorted(classes)) or 'none'})")  # fmt: skip
        if not asked > 0:
            raise SchedulingRefused("hours", f"hours on {name} must be more than 0, not {asked!r}")
    with transaction.atomic():
        proposal = Proposal.objects.create(tenant=tenant, semester=semester, title=title.strip()[:200], pi=pi,
                                           abstract=abstract, science_case=science_case)  # fmt: skip
        for user in co_investigators:
            proposal.co_investigator_links.create(tenant=tenant, user=user)
        for name, asked in hours.items():
            TimeAllocation.objects.create(tenant=tenant, proposal=proposal, telescope_class=name,
                                          hours_requested=float(asked))  # fmt: skip
    return proposal


def _move(proposal, allowed_from, to, **changes):
    """The proposal moved to status ``to`` from one of ``allowed_from`` (the row locked, so two
    submits at once move it once), or SchedulingRefused saying where it stands."""
    with transaction.atomic():
        locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status not in allowed_from:
            before = " or ".join(Proposal.Status(status).label.lower() for status in allowed_from)
            raise SchedulingRefused("status", f"the proposal is {locked.get_status_display().lower()}; it can become "
                                              f"{Proposal.Status(to).label.lower()} only when {before}")  # fmt: skip
        for name, value in {"status": to, **changes}.items():
            setattr(locked, name, value)
        locked.save()
    return locked


def submit_proposal(proposal):
    return _move(proposal, [Proposal.Status.DRAFT], Proposal.Status.SUBMITTED, submitted_at=timezone.now())


def review_proposal(proposal, *, grade, rank):
    if grade is not None and not 0 <= grade <= 5:
        raise SchedulingRefused("grade", f"a grade is from 0 (best) to 5, not {grade!r}")
    if rank is not None and rank < 1:
        raise SchedulingRefused("rank", f"a rank is 1 or more, not {rank!r}")
    return _move(proposal, [Proposal.Status.SUBMITTED, Proposal.Status.UNDER_REVIEW], Proposal.Status.UNDER_REVIEW,
                 grade=grade, rank=rank)  # fmt: skip


def decide_proposal(proposal, *, approve, granted=None):
    """Approve with ``granted`` ({class: hours} or {class: (hours, rapid-response hours)}; by
    default what was asked), or reject."""
    allocations = {allocation.telescope_class: allocation for allocation in proposal.allocations.all()}
    grants = {}
    for name, value in (granted or {}).items():
        hours, rapid = value if isinstance(value, tuple) else (value, 0.0)
        if name not in allocations:
            raise SchedulingRefused("granted", f"the proposal asks for no time on {name!r}")
        if hours < 0 or not 0 <= rapid <= hours:
            raise SchedulingRefused("granted", f"on {name}: hours ≥ 0 and rapid-response hours within them")
        grants[name] = (hours, rapid)
    with transaction.atomic():
        decided = _move(proposal, [Proposal.Status.SUBMITTED, Proposal.Status.UNDER_REVIEW],
                        Proposal.Status.APPROVED if approve else Proposal.Status.REJECTED,
                        decided_at=timezone.now())  # fmt: skip
        if approve:
            for name, allocation in allocations.items():
                allocation.hours_granted, allocation.rapid_response_hours = grants.get(
                    name, (allocation.hours_requested, 0.0)
                )
                allocation.save(update_fields=["hours_granted", "rapid_response_hours"])
    return decided


def request_seconds(configurations):
    """How long a request holds its telescope: exposures, readouts, filter changes, slew."""
    exposures = sum(c.exposure_s * c.exposure_count for c in configurations)
    readouts = READOUT_S * sum(c.exposure_count for c in configurations)
    return SLEW_AND_ACQUIRE_S + exposures + readouts + FILTER_CHANGE_S * max(0, len(configurations) - 1)


def cadence_windows(start, end, every_hours, jitter_hours):
    """One window every ``every_hours`` from ``start`` until ``end``, each ``jitter_hours`` wide
    and centred on its visit time (LCO's simple-period cadence)."""
    if not every_hours > 0:
        raise SchedulingRefused("cadence_hours", f"a cadence repeats after more than 0 hours, not {every_hours!r}")
    if not 0 < jitter_hours <= every_hours:
        raise SchedulingRefused("jitter_hours", "a visit's window is more than 0 hours and at most the period")
    windows, visit = [], start
    while visit <= end:
        windows.append((visit - timedelta(hours=jitter_hours / 2), visit + timedelta(hours=jitter_hours / 2)))
        if len(windows) > MAX_WINDOWS:
            raise SchedulingRefused("cadence_hours", f"that cadence makes more than {MAX_WINDOWS} visits")
        visit += timedelta(hours=every_hours)
    return windows


def may_request_under(user, role, proposal):
    """Whether ``user`` (with ``role`` in the proposal's observatory) makes the proposal's
    requests: its PI, its co-investigators, and those who review proposals."""
    return (may(role, "proposals.review") or proposal.pi_id == user.pk
            or proposal.co_investigators.filter(pk=user.pk).exists())  # fmt: skip


def add_request_group(proposal, user, *, name, requests, priority=10,
                      observation_type=RequestGroup.ObservationType.NORMAL):  # fmt: skip
    """Check every request against the proposal's time, the tenant's equipment and the sky,
    then store the group whole; SchedulingRefused (nothing stored) at the first problem."""
    if proposal.status != Proposal.Status.APPROVED:
        raise SchedulingRefused("proposal", f"the proposal is {proposal.get_status_display().lower()}; "
                                            "requests are made under an approved proposal")  # fmt: skip
    if not 1 <= priority <= 100:
        raise SchedulingRefused("priority", f"a priority is from 1 to 100, not {priority!r}")
    if not requests:
        raise SchedulingRefused("requests", "a request group holds at least one request")
    tenant = proposal.tenant
    classes = telescope_classes(tenant)
    allocations = {allocation.telescope_class: allocation for allocation in proposal.allocations.all()}
    planned, charged, offered = [], {}, {}
    for number, spec in enumerate(requests, 1):
        where = f"requests[{number}]"
        target = Target.objects.filter(tenant=tenant, pk=spec.target_id).first()
        if target is None:
            raise SchedulingRefused(f"{where}.target", f"no target {spec.target_id!r} in this observatory")
        telescopes = classes.get(spec.telescope_class)
        allocation = allocations.get(spec.telescope_class)
        if not telescopes or allocation is None or allocation.hours_granted <= 0:
            raise SchedulingRefused(f"{where}.telescope_class", f"the proposal has no time granted on "
                                                                f"{spec.telescope_class!r}")  # fmt: skip
        if spec.telescope_class not in offered:  # asked once per class, however many requests use it
            offered[spec.telescope_class] = set(Filter.objects.filter(instrument__telescope__in=telescopes)
                                                .values_list("instrument__code", "name"))  # fmt: skip
        _check_configurations(where, spec, offered[spec.telescope_class])
        _check_constraints(where, spec.constraints)
        windows = _windows(where, spec)
        seconds = request_seconds(spec.configurations)
        for start, end in windows:
            if (end - start).total_seconds() < seconds:
                raise SchedulingRefused(f"{where}.windows", f"the window {start:%Y-%m-%d %H:%M}–{end:%H:%M} is shorter "
                                                            f"than the observation ({seconds / 60:.1f} min with "
                                                            "overheads)")  # fmt: skip
        _check_visible(where, target, spec, telescopes, windows)
        charged[spec.telescope_class] = charged.get(spec.telescope_class, 0.0) + seconds * len(windows) / 3600
        planned.append((target, spec, windows))
    rapid = observation_type == RequestGroup.ObservationType.RAPID_RESPONSE
    for class_name, hours in charged.items():
        allocation = allocations[class_name]
        remaining = allocation.rapid_response_remaining if rapid else allocation.hours_remaining
        kind = " of rapid-response time" if rapid else ""
        if hours > remaining + 1e-9:
            raise SchedulingRefused("requests", f"they need {hours:.2f} h{kind} on {class_name} and the proposal has "
                                                f"{remaining:.2f} h of it left")  # fmt: skip
    with transaction.atomic():
        group = RequestGroup.objects.create(tenant=tenant, proposal=proposal, name=name[:200], priority=priority,
                                            observation_type=observation_type, submitter=user)  # fmt: skip
        for target, spec, windows in planned:
            for start, end in windows:  # a cadence's visits are requests of their own
                request = Request.objects.create(
                    tenant=tenant, group=group, target=target, telescope_class=spec.telescope_class,
                    max_airmass=spec.constraints.max_airmass,
                    min_lunar_distance_deg=spec.constraints.min_lunar_distance_deg,
                    max_lunar_illumination=spec.constraints.max_lunar_illumination,
                    max_seeing_arcsec=spec.max_seeing_arcsec,
                )  # fmt: skip
                Window.objects.create(tenant=tenant, request=request, start=start, end=end)
                Configuration.objects.bulk_create([
                    Configuration(tenant=tenant, request=request, order=order, instrument=c.instrument,
                                  filter_name=c.filter_name, exposure_s=c.exposure_s, exposure_count=c.exposure_count)
                    for order, c in enumerate(spec.configurations)
                ])  # fmt: skip
    return group


def _check_configurations(where, spec, offered):
    """``offered``: the (instrument code, filter name) pairs of the request's telescope class."""
    if not spec.configurations:
        raise SchedulingRefused(f"{where}.configurations", "a request holds at least one configuration")
    for index, configuration in enumerate(spec.configurations, 1):
        at = f"{where}.configurations[{index}]"
        seconds, count = configuration.exposure_s, configuration.exposure_count
        if not seconds > 0:
            raise SchedulingRefused(f"{at}.exposure_s", f"an exposure lasts more than 0 s, not {seconds!r}")
        if not (isinstance(count, int) and count >= 1):
            raise SchedulingRefused(f"{at}.exposure_count", f"at least 1 exposure, not {count!r}")
        if not any(instrument == configuration.instrument for instrument, _ in offered):
            names = sorted({instrument for instrument, _ in offered})
            raise SchedulingRefused(f"{at}.instrument", f"no instrument {configuration.instrument!r} on the "
                                                        f"{spec.telescope_class} telescopes (they have: "
                                                        f"{', '.join(names)})")  # fmt: skip
        if (configuration.instrument, configuration.filter_name) not in offered:
            names = sorted(name for instrument, name in offered if instrument == configuration.instrument)
            raise SchedulingRefused(f"{at}.filter_name", f"{configuration.instrument} has no filter "
                                                         f"{configuration.filter_name!r} (it has: "
                                                         f"{', '.join(names)})")  # fmt: skip


def _check_constraints(where, constraints):
    if not 1 <= constraints.max_airmass <= 10:
        raise SchedulingRefused(f"{where}.max_airmass", f"from 1 to 10, not {constraints.max_airmass!r}")
    if not 0 <= constraints.min_lunar_distance_deg <= 180:
        raise SchedulingRefused(f"{where}.min_lunar_distance_deg", "from 0 to 180 degrees")
    if not 0 <= constraints.max_lunar_illumination <= 1:
        raise SchedulingRefused(f"{where}.max_lunar_illumination", "a fraction of the disc lit, from 0 to 1")


def _windows(where, spec):
    if not spec.windows:
        raise SchedulingRefused(f"{where}.windows", "a request needs at least one window")
    now = timezone.now()
    for start, end in spec.windows:
        if end <= start:
            raise SchedulingRefused(f"{where}.windows", f"the window {start:%Y-%m-%d %H:%M} ends before it starts")
        if end <= now:
            raise SchedulingRefused(f"{where}.windows", f"the window ending {end:%Y-%m-%d %H:%M} UTC is in the past")
    if spec.cadence_hours is None:
        return [(start, end) for start, end in spec.windows]
    try:
        return [window for start, end in spec.windows
                for window in cadence_windows(start, end, spec.cadence_hours, spec.jitter_hours)]  # fmt: skip
    except SchedulingRefused as refused:
        raise SchedulingRefused(f"{where}.{refused.field}", refused.message) from None


def _check_visible(where, target, spec, telescopes, windows):
    """Refuse a request whose target cannot be observed in any window from any site with a
    telescope of its class, saying why at the first site. One sky per site covers every window
    (coarser slices past two weeks: a semester-long window is checked in a second or two)."""
    first, last = min(start for start, _ in windows), max(end for _, end in windows)
    minutes = SLICE_MINUTES if last - first <= timedelta(days=14) else 20
    reason = ""  # the first site's: one is enough to act on
    for site in {telescope.site_id: telescope.site for telescope in telescopes}.values():
        sky = SiteSky.over(site, first, last, slice_minutes=minutes)
        usable = sky.usable([target.ra_deg], [target.dec_deg], spec.constraints)[:, 0]
        starts = sky.starts.datetime
        inside = np.zeros(len(starts), bool)
        for start, end in windows:
            inside |= (starts >= start.replace(tzinfo=None)) & (starts < end.replace(tzinfo=None))
        if (usable & inside).any():
            return
        reason = reason or (why_never(sky, target.ra_deg, target.dec_deg, spec.constraints)
                            or f"from {site.name} it is observable only outside its windows")  # fmt: skip
    raise SchedulingRefused(f"{where}.windows", f"{target.name} is not observable in any of its windows: {reason}")
