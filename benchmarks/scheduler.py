"""The scheduler on a crowded night: 10 telescopes at 3 sites, 5,000 requests.

A throw-away embedded portal (PostgreSQL and Redis; no workers, no web) holds one
observatory: Teide, Cerro Tololo and Siding Spring, each with two 1-m telescopes and one or
two 0.4-m ones (10 in all). A semester of 40 approved proposals, each granted hours on both
classes (a few nearly spent, so allocations bind), holds 5,000 requests made as the demo's
are (``scheduling.demo.bulk_requests``): targets spread over the whole sky, one to three
filters of one to five exposures of 30 s to 5 min (2 to 80 minutes with overheads), priorities 1 to 100,
windows of the whole coming day (60 %), a few hours (30 %) or one hour (10 %), airmass
limits 1.6 to 2; and 10 pending follow-ups.

Figures, one night in 5-minute slices:
- the optimiser through ``nightly.plan_night`` (the whole run: reading the requests, the sky
  of three sites, solving, checking, storing): wall seconds, objective (priority × hours),
  its proven bound and gap;
- the greedy planner on the same problem: objective and seconds (the baseline);
- the learned planner (``planners.learned``, trained in the run on simulated nights: its
  training seconds) on the same problem: objective and seconds;
- every plan checked by ``scheduling.checker`` (violations must be 0);
- a re-plan after one new follow-up, as the event's Celery task runs it: wall seconds.
Goals: within 2 % of the bound in under 60 s, above greedy, re-plan under 5 s.

    python benchmarks/scheduler.py [--quick]

``--quick``: 1,000 requests.
"""

import argparse
import json
import os
import time
from datetime import timedelta

import numpy as np
import psycopg
from embedded_portal import embedded_portal, machine

GOALS = {"gap": 0.02, "plan_s": 60, "replan_s": 5}
SITES = [  # code, name, latitude, longitude, height, (1-m telescopes, 0.4-m telescopes)
    ("tfn", "Teide", 28.30, -16.51, 2390, (2, 2)),
    ("lsc", "Cerro Tololo", -30.17, -70.80, 2200, (2, 1)),
    ("coj", "Siding Spring", -31.27, 149.07, 1116, (2, 1)),
]
FILTERS = [("g", 477, 137), ("r", 623, 138), ("i", 763, 153)]


def observatory(tenant):
    from portal.demo import load_site

    for code, name, latitude, longitude, height, (big, small) in SITES:
        telescopes = [(f"1m0{n}", f"{name} 1.0 m {n}", 1.0, 26.5, 0.389, "sinistro", FILTERS) for n in range(big)]
        telescopes += [(f"0m4{n}", f"{name} 0.4 m {n}", 0.4, 29, 0.57, "qhy", FILTERS) for n in range(small)]
        load_site(tenant, {"code": code, "name": name, "latitude_deg": latitude, "longitude_deg": longitude,
                           "height_m": height, "telescopes": telescopes})  # fmt: skip


def semester_of_requests(tenant, pi, count, start, rng):
    """40 approved proposals and ``count`` requests under them, bulk-loaded."""
    from observations.models import Target
    from observations.sky import healpix_index
    from scheduling.demo import bulk_requests
    from scheduling.models import Proposal, Semester, TimeAllocation

    semester = Semester.objects.create(tenant=tenant, code="bench", start=start - timedelta(days=30),
                                       end=start + timedelta(days=150))  # fmt: skip
    proposals = Proposal.objects.bulk_create([
        Proposal(tenant=tenant, semester=semester, title=f"Proposal {n}", pi=pi, status="approved", rank=n + 1)
        for n in range(40)])  # fmt: skip
    TimeAllocation.objects.bulk_create([
        TimeAllocation(tenant=tenant, proposal=p, telescope_class=name, hours_requested=100,
                       hours_granted=100, hours_used=float(rng.uniform(99, 99.8)) if n % 8 == 0 else 0)
        for n, p in enumerate(proposals) for name in ("1m0", "0m4")])  # fmt: skip
    ra = rng.uniform(0, 360, count // 2)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, count // 2)))
    pixels = healpix_index(ra, dec)
    targets = Target.objects.bulk_create([Target(tenant=tenant, name=f"T{n}", ra_deg=r, dec_deg=d, healpix=p)
                                          for n, (r, d, p) in enumerate(zip(ra, dec, pixels))])  # fmt: skip
    bulk_requests(list(Proposal.objects.filter(pk__in=[p.pk for p in proposals]).prefetch_related("allocations")),
                  targets, count, start, rng, span_hours=24)  # fmt: skip
    with psycopg.connect(os.environ["DATABASE_ADMIN_URL"], autocommit=True) as owner:
        owner.execute("ANALYZE")  # what autovacuum does soon after a bulk load: the planner's statistics
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 requests")
    args = parser.parse_args()
    count = 1_000 if args.quick else 5_000
    with embedded_portal("arrayscope-scheduler-"):
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from observations.models import Target
        from portal.models import Membership, Tenant
        from portal.tenancy import tenant_context
        from scheduling import checker, nightly
        from scheduling.models import ScheduledObservation
        from scheduling.planners.greedy import GreedyPlanner
        from scheduling.planners.learned import LearnedPlanner, save_weights, train
        from scheduling.services import request_follow_up

        rng = np.random.default_rng(2026)
        tenant = Tenant.objects.create(slug="scheduler", name="Scheduler")
        pi = get_user_model().objects.create_user("pi", password="x")
        with tenant_context(tenant):
            Membership.objects.create(tenant=tenant, user=pi, role="astronomer")
            observatory(tenant)
            start = nightly.plan_start()
            targets = semester_of_requests(tenant, pi, count, start, rng)
            for target in targets[:10]:
                request_follow_up(tenant.pk, target)

            began = time.perf_counter()
            plan = nightly.plan_night(tenant, time_limit_s=settings.SCHEDULING_TIME_LIMIT_S)
            plan_s = time.perf_counter() - began
            stored = list(ScheduledObservation.objects.filter(plan=plan))
            optimiser_violations = checker.violations(tenant, stored)

            problem, _ = nightly.build_problem(tenant, plan.start)
            greedy = GreedyPlanner().plan(problem)
            greedy_violations = checker.violations(tenant, nightly.observations_of(tenant, problem, greedy))
            began = time.perf_counter()
            save_weights(train())
            training_s = time.perf_counter() - began
            learned = LearnedPlanner().plan(problem)
            learned_violations = checker.violations(tenant, nightly.observations_of(tenant, problem, learned))

            # A transient beside a target the plan observes: up tonight somewhere.
            near = stored[0].request.target if stored[0].request_id else stored[0].follow_up.target
            transient = Target.objects.create(tenant=tenant, name="AT new", ra_deg=near.ra_deg,
                                              dec_deg=float(np.clip(near.dec_deg + 1, -90, 90)))  # fmt: skip
            request_follow_up(tenant.pk, transient)
            began = time.perf_counter()
            replan = nightly.plan_night(tenant, trigger="follow_up",
                                        time_limit_s=settings.SCHEDULING_REPLAN_TIME_LIMIT_S)  # fmt: skip
            replan_s = time.perf_counter() - began
            replan_violations = checker.violations(tenant, list(ScheduledObservation.objects.filter(plan=replan)))
            follow_up_placed = ScheduledObservation.objects.filter(plan=replan, follow_up__target=transient).exists()
            left_out = replan.unscheduled.get(f"follow_up:{transient.follow_up_requests.get().pk}")
    figures = {
        "requests": count, "telescopes": 10, "sites": 3, "candidates_tonight": len(problem.candidates),
        "slices": problem.slices, "plan_s": round(plan_s, 2), "status": plan.status,
        "objective": round(plan.objective, 2), "bound": plan.bound and round(plan.bound, 2),
        "gap": plan.gap and round(plan.gap, 4), "placed": len(stored), "optimiser_notes": plan.notes,
        "optimiser_violations": len(optimiser_violations), "greedy_violations": len(greedy_violations),
        "learned_objective": round(learned.objective, 2), "learned_s": round(learned.seconds, 2),
        "learned_training_s": round(training_s, 1), "learned_violations": len(learned_violations),
        "replan_s": round(replan_s, 2), "replan_status": replan.status,
        "replan_gap": replan.gap and round(replan.gap, 4), "replan_violations": len(replan_violations),
        "replan_notes": replan.notes,
        "new_follow_up_placed": follow_up_placed,
        "new_follow_up_left_out": left_out,
        "first_violations": (optimiser_violations + greedy_violations + learned_violations + replan_violations)[:5],
    }  # fmt: skip
    baseline = {"greedy_objective": round(greedy.objective, 2), "greedy_s": round(greedy.seconds, 3),
                "greedy_placed": len(greedy.placements)}  # fmt: skip
    ratio = {"optimiser_over_greedy": round(plan.objective / max(1e-9, greedy.objective), 4),
             "learned_over_greedy": round(learned.objective / max(1e-9, greedy.objective), 4),
             "greedy_over_bound": plan.bound and round(greedy.objective / plan.bound, 4)}  # fmt: skip
    figures["goals"] = GOALS
    figures["within_goals"] = bool(plan.status != "fallback" and replan.status != "fallback"
                                   and plan.gap <= GOALS["gap"] and plan_s < GOALS["plan_s"]
                                   and replan_s < GOALS["replan_s"] and ratio["optimiser_over_greedy"] > 1
                                   and follow_up_placed and not figures["first_violations"])  # fmt: skip
    print(json.dumps({"benchmark": "scheduler", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
