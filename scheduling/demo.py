"""The demo's semester: proposals at every stage of review, a few hundred requests over the
demo targets and a ring of survey fields (some of the sky is up at every site all night),
and tonight's plan computed on a worker at first start.

``bulk_requests`` is also how ``benchmarks/scheduler.py`` fills its night: many requests
made at once, past the one-by-one checks of ``proposals.add_request_group`` (each request's
visibility from every site), which are for astronomers' requests as they come.
"""

import functools
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from observations.models import Target
from observations.sky import healpix_index
from portal.celery import send
from portal.models import Filter

from .models import Configuration, Request, RequestGroup, Semester, Window
from .proposals import (
    create_proposal,
    create_semester,
    decide_proposal,
    review_proposal,
    submit_proposal,
    telescope_classes,
)

SEMESTER = "demo"
PROPOSALS = [  # title, where it stands, hours asked per telescope class, requests
    ("Tidal tails of nearby spirals", "approved", {"1m0": 120, "2m0": 30}, 120),
    ("Supernova light curves", "approved", {"1m0": 60, "0m4": 40}, 100),
    ("The southern survey fields", "approved", {"2m0": 60, "1m0": 40}, 80),
    ("Variable stars with small telescopes", "submitted", {"0m4": 50}, 0),
    ("Dwarf galaxies around M81", "draft", {"1m0": 30}, 0),
]
SURVEY_FIELDS = 24  # one an hour of right ascension, alternately north and south


def load_demo_semester(tenant, astronomer, admin):
    """Once per tenant: the semester, its proposals and their requests; then ask a worker for
    tonight's plan."""
    if Semester.objects.filter(tenant=tenant, code=SEMESTER).exists():
        return
    now = timezone.now()
    semester = create_semester(tenant, SEMESTER, now - timedelta(days=30), now + timedelta(days=150))
    classes = telescope_classes(tenant)
    targets = list(Target.objects.filter(tenant=tenant, tags__contains=["demo"])) + survey_fields(tenant, admin)
    rng = np.random.default_rng(2026)
    for rank, (title, stands, hours, count) in enumerate(PROPOSALS, 1):
        asked = {name: value for name, value in hours.items() if name in classes}
        proposal = create_proposal(tenant, astronomer, semester, title=title, hours=asked,
                                   abstract=f"{title}: a demo proposal.")  # fmt: skip
        if stands == "draft":
            continue
        proposal = submit_proposal(proposal)
        if stands == "approved":
            proposal = decide_proposal(review_proposal(proposal, grade=1 + rank / 2, rank=rank), approve=True)
            bulk_requests([proposal], targets, count, now, rng, span_hours=24 * 14)
    transaction.on_commit(functools.partial(send, "scheduling.tasks.plan_tenant_night", tenant.pk, "manual"))


def survey_fields(tenant, user):
    fields = [(f"Survey field {hour:02d}h", hour * 15.0, 30.0 if hour % 2 else -30.0) for hour in range(SURVEY_FIELDS)]
    pixels = healpix_index([ra for _, ra, _ in fields], [dec for _, _, dec in fields])
    return Target.objects.bulk_create(
        Target(tenant=tenant, created_by=user, name=name, ra_deg=ra, dec_deg=dec, healpix=int(pixel),
               tags=["demo", "survey-field"])
        for (name, ra, dec), pixel in zip(fields, pixels)
    )  # fmt: skip


def bulk_requests(proposals, targets, count, start, rng, *, span_hours=24.0):
    """``count`` pending requests under ``proposals`` (approved, with their allocations), five
    to a group of priority 1 to 100, each on a random one of ``targets`` and of the classes
    its proposal was granted: one to three filters of an instrument of the class, one to five
    exposures of 30 s to 5 min, an airmass limit of 1.6 to 2, and one window from ``start``:
    the whole span (60 %), a few hours (30 %) or one hour (10 %)."""
    tenant = proposals[0].tenant
    offered = {}
    for instrument, name, telescope in Filter.objects.filter(tenant=tenant).values_list(
        "instrument__code", "name", "instrument__telescope"
    ):
        offered.setdefault(telescope, {}).setdefault(instrument, []).append(name)
    equipment = {name: [pair for telescope in telescopes for pair in offered.get(telescope.pk, {}).items()]
                 for name, telescopes in telescope_classes(tenant).items()}  # fmt: skip
    groups = RequestGroup.objects.bulk_create([
        RequestGroup(tenant=tenant, proposal=proposals[n % len(proposals)], name=f"group {n + 1}",
                     priority=int(rng.integers(1, 101)))
        for n in range((count + 4) // 5)])  # fmt: skip
    granted = {p.pk: [a.telescope_class for a in p.allocations.all() if a.hours_granted > 0] for p in proposals}
    requests, made = [], []
    for n in range(count):
        group = groups[n % len(groups)]
        name = str(rng.choice(granted[group.proposal_id]))
        instrument, filters = equipment[name][int(rng.integers(len(equipment[name])))]
        requests.append(Request(tenant=tenant, group=group, target=targets[int(rng.integers(len(targets)))],
                                telescope_class=name, max_airmass=float(rng.choice([1.6, 1.8, 2.0]))))  # fmt: skip
        made.append((instrument, filters[: int(rng.integers(1, min(3, len(filters)) + 1))]))
    Request.objects.bulk_create(requests)
    windows, configurations = [], []
    for request, (instrument, filters) in zip(requests, made):
        kind = rng.random()
        if kind < 0.6:
            begin, hours = start, span_hours
        else:
            hours = float(rng.uniform(2, 6)) if kind < 0.9 else 1.0
            begin = start + timedelta(hours=float(rng.uniform(0, span_hours - hours)))
        windows.append(Window(tenant=tenant, request=request, start=begin, end=begin + timedelta(hours=hours)))
        configurations += [Configuration(tenant=tenant, request=request, order=order, instrument=instrument,
                                         filter_name=name, exposure_s=float(rng.choice([30, 60, 120, 300])),
                                         exposure_count=int(rng.integers(1, 6)))
                           for order, name in enumerate(filters)]  # fmt: skip
    Window.objects.bulk_create(windows)
    Configuration.objects.bulk_create(configurations)
    return requests
