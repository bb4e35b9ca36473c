"""An independent check of a plan against every rule a telescope's queue must keep.

It shares nothing with the planners or ``nightly``'s problem: it reads each observation's
request, telescope and allocation from the database and places the target in the sky again
with astropy, at the middle of every slice the observation holds. A plan that breaks a rule
here is never stored (``nightly.plan_night`` falls back to the greedy plan), and the benchmark
counts its violations for every planner.
"""

from collections import defaultdict
from datetime import timedelta

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, SkyCoord, get_body
from astropy.time import Time
from django.conf import settings

from portal.models import Telescope

from .models import Request, ScheduledObservation, SiteCondition, TimeAllocation, telescope_class
from .proposals import request_seconds
from .visibility import SUN_MAX_ALTITUDE_DEG, Constraints


def violations(tenant, observations):
    """Every rule the planned ``observations`` (with the queues' observations under way)
    break, one sentence each; empty when none."""
    found = []
    under_way = list(ScheduledObservation.objects.filter(tenant=tenant, state=ScheduledObservation.State.STARTED)
                     .select_related("request__group"))  # fmt: skip
    telescopes = {t.pk: t for t in Telescope.objects.filter(tenant=tenant).select_related("site")
                  .prefetch_related("instruments__filters")}  # fmt: skip
    requests = {r.pk: r for r in Request.objects.filter(tenant=tenant, pk__in=[o.request_id for o in observations])
                .select_related("target", "group__proposal").prefetch_related("configurations", "windows")}  # fmt: skip
    step = timedelta(seconds=settings.SCHEDULING_SLICE_SECONDS)
    seeing = {c.site_id: (c.seeing_arcsec, c.seeing_until) for c in SiteCondition.objects.filter(
        tenant=tenant, seeing_arcsec__isnull=False, seeing_at__isnull=False)}  # fmt: skip
    charged = defaultdict(float)
    in_sky = defaultdict(list)  # site → (what, observation, target, limits)
    seen = set()
    for observation in observations:
        what = (f"request {observation.request_id}" if observation.request_id
                else f"follow-up {observation.follow_up_id}")  # fmt: skip
        telescope = telescopes.get(observation.telescope_id)
        if telescope is None or not telescope.active:
            found.append(f"{what}: telescope {observation.telescope_id} is not an active telescope of the tenant")
            continue
        key = (observation.request_id, observation.follow_up_id)
        if key in seen:
            found.append(f"{what} is planned twice")
        seen.add(key)
        if observation.request_id:
            request = requests.get(observation.request_id)
            if request is None:
                found.append(f"{what} is not a request of the tenant")
                continue
            found += _request_rules(what, observation, request, telescope, seeing.get(telescope.site_id))
            limits = (request.max_airmass, request.min_lunar_distance_deg, request.max_lunar_illumination)
            in_sky[telescope.site].append((what, observation, request.target, limits))
            charged[(request.group.proposal_id, request.telescope_class)] += (observation.end - observation.start
                                                                              ).total_seconds()  # fmt: skip
        else:
            asked = Constraints()  # what every follow-up asks
            limits = (asked.max_airmass, asked.min_lunar_distance_deg, asked.max_lunar_illumination)
            in_sky[telescope.site].append((what, observation, observation.follow_up.target, limits))
    for site, placed in in_sky.items():
        found += _sky_rules(site, placed, step)
    found += _overlaps(observations + under_way)
    allocations = TimeAllocation.objects.filter(tenant=tenant, proposal_id__in={p for p, _ in charged})
    left = defaultdict(float, {(a.proposal_id, a.telescope_class): a.hours_remaining * 3600 for a in allocations})
    for o in under_way:  # to be charged when they complete
        if o.request_id:
            left[(o.request.group.proposal_id, o.request.telescope_class)] -= (o.end - o.start).total_seconds()
    for (proposal_id, name), seconds in charged.items():
        remaining = left[(proposal_id, name)]
        if seconds > remaining + 1:
            found.append(f"proposal {proposal_id} on {name}: {seconds / 3600:.2f} h planned, "
                         f"{remaining / 3600:.2f} h left")  # fmt: skip
    return found


def _request_rules(what, observation, request, telescope, seeing):
    """``seeing``: (arcseconds measured at the telescope's site, until when that holds), or None."""
    found = []
    if seeing and request.max_seeing_arcsec and seeing[0] > request.max_seeing_arcsec and observation.start < seeing[1]:
        found.append(f"{what}: planned while the seeing at {telescope.site.name} ({seeing[0]:g}″) is worse than its "
                     f"limit ({request.max_seeing_arcsec:g}″)")  # fmt: skip
    if request.group.proposal.status != "approved":
        found.append(f"{what}: its proposal is not approved")
    if telescope_class(telescope.aperture_m) != request.telescope_class:
        found.append(f"{what}: asks for a {request.telescope_class} telescope, planned on {telescope.code}")
    offered = {(i.code, f.name) for i in telescope.instruments.all() for f in i.filters.all()}
    for configuration in request.configurations.all():
        if (configuration.instrument, configuration.filter_name) not in offered:
            found.append(f"{what}: {telescope.code} has no {configuration.instrument}/{configuration.filter_name}")
    needed = request_seconds(list(request.configurations.all()))
    given = (observation.end - observation.start).total_seconds()
    if given < needed - 1e-6:
        found.append(f"{what}: given {given:.0f} s, needs {needed:.0f} s")
    if not any(w.start <= observation.start and observation.end <= w.end for w in request.windows.all()):
        found.append(f"{what}: {observation.start:%H:%M}–{observation.end:%H:%M} is outside its windows")
    return found


def _sky_rules(site, placed, step):
    """Each target at the middle of every slice its observation holds, placed afresh: all of
    one site's observations in one transformation."""
    counts = [max(1, int(np.ceil((o.end - o.start) / step - 1e-9))) for _, o, _, _ in placed]
    first = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(placed)), counts)
    offsets = np.arange(len(owner)) - np.repeat(first, counts) + 0.5
    seconds = np.array([o.start.timestamp() for _, o, _, _ in placed])[owner] + offsets * step.total_seconds()
    # Queues keep to a grid, so many observations share their middles: the Sun and Moon once each.
    instants, at = np.unique(seconds, return_inverse=True)
    when = Time(instants, format="unix")
    sun, moon = get_body("sun", when), get_body("moon", when)
    lit = ((1 - np.cos(sun.separation(moon).rad)) / 2)[at]  # the phase angle taken as 180° less the elongation
    here = AltAz(obstime=when, location=site.earth_location)
    sun_altitude, moon_here = sun.transform_to(here).alt.deg[at], moon.transform_to(here)[at]
    frame = AltAz(obstime=when[at], location=site.earth_location)
    ra = np.array([t.ra_deg for _, _, t, _ in placed])[owner]
    dec = np.array([t.dec_deg for _, _, t, _ in placed])[owner]
    target = SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame)
    max_airmass, min_moon_deg, max_lit = (np.array(column)[owner] for column in zip(*(p[3] for p in placed)))
    altitude = target.alt.deg
    moon_up = moon_here.alt.deg > 0
    broken = {
        "planned in twilight or daylight at {site}": sun_altitude >= SUN_MAX_ALTITUDE_DEG,
        "below {site}'s horizon limit ({low:.1f}°)": altitude < site.horizon_limit_deg,
        "above its airmass limit {airmass:g}": (altitude >= site.horizon_limit_deg)
        & (1 / np.sin(np.radians(np.clip(altitude, 1e-3, 90))) > max_airmass + 1e-6),
        "within {moon:g}° of the Moon": moon_up & (target.separation(moon_here).deg < min_moon_deg),
        "the Moon is brighter than {lit:.0%} lit": moon_up & (lit > max_lit + 0.02),
    }
    lowest = np.minimum.reduceat(altitude, first)
    any_of = {sentence: np.logical_or.reduceat(failing, first) for sentence, failing in broken.items()}
    found = []
    for index, (what, _, _, (airmass, moon_deg, most_lit)) in enumerate(placed):
        for sentence, failing in any_of.items():
            if failing[index]:
                found.append(f"{what}: " + sentence.format(site=site.name, low=lowest[index], airmass=airmass,
                                                            moon=moon_deg, lit=most_lit))  # fmt: skip
    return found


def _overlaps(observations):
    found = []
    by_telescope = defaultdict(list)
    for observation in observations:
        by_telescope[observation.telescope_id].append(observation)
    for telescope, queue in by_telescope.items():
        queue.sort(key=lambda o: o.start)
        for before, after in zip(queue, queue[1:]):
            if after.start < before.end:
                found.append(f"telescope {telescope}: {after.start:%H:%M} starts before the observation ending "
                             f"{before.end:%H:%M}")  # fmt: skip
    return found
