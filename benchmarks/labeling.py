"""Citizen science at scale: a million galaxies, fifty volunteers at once, a million votes aggregated.

Starts a throw-away portal as ``./arrayscope run`` does (embedded PostgreSQL and Redis, the
Daphne web processes; no workers: nothing here reaches them) with a public project over
1,000,000 galaxies on the Galaxy Zoo DECaLS tree (targets, their images and the subject set
bulk-loaded; the production model's doubt drawn at random, so the queue is ordered by it).

Then 50 anonymous volunteers, each on a keep-alive HTTP connection as a browser would hold,
open the classify page and classify one galaxy after another as its script does (two held
ahead, each submit's answer bringing the next: one request a galaxy, a full walk of the
tree); every twentieth submit is sent twice (a double click). First as fast as the server
answers them, for ``SECONDS``: submissions per second, and CPU per cycle of each part. Then
paced, all together at half that rate (a server at half load; flat out, fifty clients only
measure the queue they make), asking for each next galaxy on its own first: next-galaxy and
submit p50/p95. Whether each vote was counted exactly once: rows, per-galaxy counters and
the live counter all equal the 201 answers, and every resubmit was answered 200, uncounted.
Baseline, same run: the same 50 clients asking a trivial page of the same server
(``/favicon.ico``, a redirect: Django's full middleware, no database) as many times a cycle,
flat out and then at the same paced rate — the web stack's floor. Goals: next-galaxy p95
under 30 ms, 200 submissions/s, half the floor's cycles/s.

The rate limits per volunteer and per address are raised for the run: fifty volunteers on
one address, each far faster than a person, are what the limits exist to refuse.

Then aggregation: a second project of 100,000 galaxies with 1,000,000 classifications (ten
a galaxy) by 2,000 simulated volunteers of known skill — careful, typical, careless and
adversarial, as in the demo — 2% of galaxies gold standard. Figures: seconds for the whole
aggregation (``labeling.services.aggregate``: read, Dawid–Skene per question, write back;
goal under 60 s) and accuracy against the truth of skill-weighted consensus vs plain majority,
on the first question and on every question the truth asks.

    python benchmarks/labeling.py [--quick]

``--quick``: 100,000 galaxies, 10 s of volunteers, 100,000 votes.
"""

import argparse
import io
import json
import os
import time
from pathlib import Path

import numpy as np
from cone_search import load_catalogue, percentile_ms, uniform_sky
from embedded_portal import embedded_portal, machine
from http_crowd import Browser, crowd, cycles

VOLUNTEERS = 50
RESUBMIT_EVERY = 20
# (kind, chance of the true answer, share of the volunteers): the demo's mix
SIMULATED = (("careful", 0.92, 0.3), ("typical", 0.75, 0.45), ("careless", 0.35, 0.2), ("adversarial", 0.0, 0.05))
GOALS = {"next_p95_ms": 30, "submissions_per_s": 200, "fraction_of_floor": 0.5, "aggregation_s": 60}


def load_subjects(tenant, project, count, *, first_target=None):
    """``count`` galaxies as subjects of ``project``: targets (COPY), one image each and the subject
    rows (INSERT … SELECT), as the owner: bulk loading is set-up, not what is measured. Returns
    the id of the first target loaded, so a second project can take the same images."""
    import psycopg

    from labeling import counters

    with psycopg.connect(os.environ["DATABASE_ADMIN_URL"], autocommit=True) as conn:
        if first_target is None:
            first_target = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM observations_target").fetchone()[0]
            load_catalogue(tenant.pk, *uniform_sky(np.random.default_rng(1), count))
            conn.execute(
                "INSERT INTO observations_targetimage (tenant_id, target_id, file, preview, sha256, bands, width_px, "
                "height_px, pixel_scale_arcsec, source, created_at) SELECT tenant_id, id, 'benchmark/galaxy.fits', "
                "'benchmark/galaxy.png', repeat('0', 64), ARRAY['g','r','z'], 64, 64, 0.262, 'benchmark', now() "
                "FROM observations_target WHERE tenant_id = %s AND id >= %s",
                [tenant.pk, first_target],
            )
        # Doubt at random; priority as labeling.services.priority has it for a galaxy without votes.
        conn.execute(
            "INSERT INTO labeling_subject (tenant_id, project_id, image_id, classification_count, first_answers, "
            "uncertainty, priority, retirement, added_at, vote_counts, consensus) "
            "SELECT tenant_id, %(project)s, id, 0, '{}', doubt, (1 - %(weight)s) + %(weight)s * doubt, '', now(), "
            "'{}', '{}' FROM (SELECT tenant_id, id, random() AS doubt FROM observations_targetimage "
            "WHERE tenant_id = %(tenant)s AND target_id >= %(first)s ORDER BY id LIMIT %(count)s) images",
            {"project": project.pk, "weight": project.uncertainty_weight, "tenant": tenant.pk, "first": first_target,
             "count": count},
        )  # fmt: skip
        for table in ("observations_targetimage", "labeling_subject"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        # What the load wrote reaches the disk now, not while volunteers are measured: behind
        # gigabytes of dirty pages, any write (Redis's append-only file too) waits seconds.
        conn.execute("CHECKPOINT")
    os.sync()
    counters.count_subjects(project, count)
    return first_target


async def volunteer(port, base, tree, seed, seconds, every, results, *, separate_next=False):
    """Open the classify page, then classify one galaxy after another as its script does: two
    galaxies held ahead, each submit's answer bringing the next (one request a galaxy). With
    ``separate_next``, ask for each next galaxy on its own first (as the page does when its
    queue runs short), to time that request."""
    from labeling.demo import simulated_walk

    rng = np.random.default_rng(seed)
    browser = Browser(port)
    status, page = await browser.request("GET", base)
    assert status == 200, f"the classify page answered {status}: {page[:300]}"
    headers = [("Content-Type", "application/json"), ("X-CSRFToken", browser.cookies["csrftoken"])]
    held = [] if separate_next else json.loads((await browser.request("GET", f"{base}next?count=2"))[1])["subjects"]
    try:
        async for _ in cycles(seconds, every, rng):
            if separate_next:
                started = time.perf_counter()
                status, body = await browser.request("GET", f"{base}next?count=1")
                results["next_s"].append(time.perf_counter() - started)
                held = json.loads(body)["subjects"] if status == 200 else []
            if not held:
                results["statuses"]["none left"] += 1
                break
            subject = held.pop(0)
            wanted = 0 if separate_next else 2 - len(held)
            path = f"{base}classifications?next={wanted}&exclude={','.join(str(s['id']) for s in held)}"
            walk = simulated_walk(tree, {}, 0.0, rng)  # no truth: an answer at random at every question
            payload = json.dumps({"subject": subject["id"], "workflow_version": 1, "answers": walk}).encode()
            started = time.perf_counter()
            status, body = await browser.request("POST", path, payload, headers)
            results["submit_s"].append(time.perf_counter() - started)
            results["statuses"][f"submit {status}"] += 1
            results["cycles"] += 1
            held += json.loads(body).get("next", [])
            if results["cycles"] % RESUBMIT_EVERY == 0:
                status, body = await browser.request("POST", f"{base}classifications", payload, headers)
                results["statuses"][f"resubmit {status}"] += 1
                results["resubmitted_counted"] += json.loads(body).get("counted", True)
    finally:
        browser.close()


async def floor_client(port, seed, seconds, every, requests, results):
    """The same client asking the trivial page ``requests`` times a cycle, as many as a volunteer's
    cycle makes."""
    browser = Browser(port)
    try:
        async for _ in cycles(seconds, every, np.random.default_rng(seed)):
            for _ in range(requests):
                started = time.perf_counter()
                status, _ = await browser.request("GET", "/favicon.ico")
                results["request_s"].append(time.perf_counter() - started)
                results["statuses"][status] += 1
            results["cycles"] += 1
    finally:
        browser.close()


def volunteers_figures(tenant, owner, count, seconds, volunteers):
    from labeling import counters
    from labeling.models import Classification, Project, Subject
    from labeling.services import create_project, current_workflow
    from portal.launcher import spawn_web, stop_processes
    from portal.tenancy import tenant_context
    from tests.api_fuzz import wait_answering

    with tenant_context(tenant):
        project = create_project(tenant, owner, name="A million galaxies", slug="million", visibility="public")
        tree = current_workflow(project).tree
    first_target = load_subjects(tenant, project, count)
    env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0",
           "LABELING_RATE_PER_VOLUNTEER": "1000000/min", "LABELING_RATE_PER_ADDRESS": "1000000/min"}  # fmt: skip
    port = 8000 + os.getpid() % 1000
    servers = spawn_web("127.0.0.1", port, env, Path(os.environ["ARRAYSCOPE_VAR"]) / "log")
    base = f"/projects/{tenant.slug}/{project.slug}/"
    try:
        wait_answering(f"http://127.0.0.1:{port}")

        def run_floor(seconds, every=None, requests=1):
            return crowd(lambda results: [floor_client(port, seed, seconds, every, requests, results)
                                          for seed in range(volunteers)], servers)  # fmt: skip

        def run_service(seconds, first_seed, every=None, separate_next=False):
            return crowd(lambda results: [volunteer(port, base, tree, seed, seconds, every, results,
                                                    separate_next=separate_next)
                                          for seed in range(first_seed, first_seed + volunteers)], servers)  # fmt: skip

        run_floor(2)  # every process has served once
        floor_s, floor, floor_cpu = run_floor(seconds)
        busy_s, busy, busy_cpu = run_service(seconds, 0)
        # Latency with the server at half the load it can take, each volunteer in step with the rest.
        rate = busy["cycles"] / busy_s / 2
        _, paced, _ = run_service(seconds, volunteers, every=volunteers / rate, separate_next=True)
        _, floor_paced, _ = run_floor(seconds, every=volunteers / rate, requests=2)
    except Exception:
        for log in sorted((Path(os.environ["ARRAYSCOPE_VAR"]) / "log").glob("web*.log")):
            text = log.read_text(errors="replace")
            print(f"--- {log.name}, from its first error:", text[text.find("Traceback") :][:8000], sep="\n")
        raise
    finally:
        stop_processes(servers)
    with tenant_context(tenant):
        rows = Classification.objects.filter(project=project).count()
        per_galaxy = sum(Subject.objects.filter(project=project, classification_count__gt=0)
                         .values_list("classification_count", flat=True))  # fmt: skip
        live = counters.progress(Project.objects.get(pk=project.pk))["classifications"]
    statuses = busy["statuses"] + paced["statuses"]
    counted = statuses["submit 201"]
    resubmits = sum(n for status, n in statuses.items() if status.startswith("resubmit"))
    figures = {
        "galaxies": count, "volunteers": volunteers, "seconds": round(busy_s, 1),
        "submissions_per_s": round(busy["statuses"]["submit 201"] / busy_s, 1),
        "cycles_per_s": round(busy["cycles"] / busy_s, 1),
        "busy_submit_p50_ms": percentile_ms(busy["submit_s"], 50),
        "busy_submit_p95_ms": percentile_ms(busy["submit_s"], 95),
        "cpu_ms_per_cycle": {part: round(used * 1e3 / max(1, busy["cycles"]), 2) for part, used in busy_cpu.items()},
        "half_load_cycles_per_s": round(rate, 1),
        "next_p50_ms": percentile_ms(paced["next_s"], 50), "next_p95_ms": percentile_ms(paced["next_s"], 95),
        "submit_p50_ms": percentile_ms(paced["submit_s"], 50), "submit_p95_ms": percentile_ms(paced["submit_s"], 95),
        "statuses": dict(statuses),
        "each_vote_counted_once": rows == per_galaxy == live == counted
                                  and busy["resubmitted_counted"] + paced["resubmitted_counted"] == 0
                                  and statuses["resubmit 200"] == resubmits > 0,
        "rows": rows, "per_galaxy_counters": per_galaxy, "live_counter": live, "answered_201": counted,
    }  # fmt: skip
    baseline = {
        "floor_cycles_per_s": round(floor["cycles"] / floor_s, 1),
        "floor_cpu_ms_per_cycle": {part: round(used * 1e3 / max(1, floor["cycles"]), 2)
                                   for part, used in floor_cpu.items()},
        "floor_half_load_request_p50_ms": percentile_ms(floor_paced["request_s"], 50),
        "floor_half_load_request_p95_ms": percentile_ms(floor_paced["request_s"], 95),
        "floor_statuses": {str(status): n for status, n in (floor["statuses"] + floor_paced["statuses"]).items()},
    }  # fmt: skip
    return figures, baseline, first_target


def simulated_votes(tree, subject_ids, votes_each, volunteer_count, rng):
    """(truths, votes, skills): each galaxy's true answer to every question, the volunteers'
    classifications as (subject, voter, walk), and each volunteer's true skill."""
    from labeling.demo import simulated_walk

    kinds = rng.choice(len(SIMULATED), size=volunteer_count, p=[share for *_, share in SIMULATED])
    skills = np.array([SIMULATED[kind][1] for kind in kinds])
    truths = {}
    for subject in subject_ids:
        truths[subject] = {key: question["answers"][int(rng.integers(len(question["answers"])))]["key"]
                           for key, question in tree["questions"].items()}  # fmt: skip
    votes = []
    for subject in subject_ids:
        for person in rng.choice(volunteer_count, size=votes_each, replace=False):
            votes.append((subject, int(person), simulated_walk(tree, truths[subject], skills[person], rng)))
    return truths, votes, skills


def aggregation_figures(tenant, owner, first_target, galaxies, votes_each):
    import psycopg

    from labeling.demo import true_walk
    from labeling.models import Project, Subject
    from labeling.services import aggregate, create_project, current_workflow
    from portal.tenancy import tenant_context

    with tenant_context(tenant):
        project = create_project(tenant, owner, name="Aggregation", slug="aggregation", visibility="public")
        workflow = current_workflow(project)
    load_subjects(tenant, project, galaxies, first_target=first_target)
    with tenant_context(tenant):
        subject_ids = list(Subject.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    rng = np.random.default_rng(2026)
    tree = workflow.tree
    truths, votes, _ = simulated_votes(tree, subject_ids, votes_each, 2_000, rng)
    gold = subject_ids[::50]  # 2%
    buffer = io.StringIO()
    for subject, person, walk in votes:
        buffer.write(f"{tenant.pk}\t{project.pk}\t{subject}\t{workflow.pk}\tsimulated:{person}\t"
                     f"{json.dumps(walk)}\t2026-12-01T00:00:00Z\n")  # fmt: skip
    with psycopg.connect(os.environ["DATABASE_ADMIN_URL"], autocommit=True) as conn:
        columns = "tenant_id, project_id, subject_id, workflow_id, voter, answers, created_at"
        with conn.cursor().copy(f"COPY labeling_classification ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        with conn.cursor() as cursor:
            cursor.executemany("UPDATE labeling_subject SET gold_answers = %s WHERE id = %s",
                               [(json.dumps(true_walk(tree, truths[pk])), pk) for pk in gold])  # fmt: skip
        conn.execute("VACUUM (ANALYZE) labeling_classification")
    with tenant_context(tenant):
        project = Project.objects.get(pk=project.pk)
        started = time.perf_counter()
        aggregate(project)
        seconds = time.perf_counter() - started
        stored = dict(Subject.objects.filter(project=project).values_list("pk", "consensus"))
        counts = dict(Subject.objects.filter(project=project).values_list("pk", "vote_counts"))
    scored = [pk for pk in subject_ids if pk not in set(gold)]
    first = tree["first"]
    accuracy = {"weighted_first_question": [], "majority_first_question": [],
                "weighted_every_question": [], "majority_every_question": []}  # fmt: skip
    for pk in scored:
        for question, truth_answer in _asked(tree, truths[pk]):
            if question not in counts[pk]:
                continue
            weighted = max(stored[pk][question], key=stored[pk][question].get) == truth_answer
            majority = max(counts[pk][question], key=counts[pk][question].get) == truth_answer
            accuracy["weighted_every_question"].append(weighted)
            accuracy["majority_every_question"].append(majority)
            if question == first:
                accuracy["weighted_first_question"].append(weighted)
                accuracy["majority_first_question"].append(majority)
    return {
        "votes": len(votes), "galaxies": galaxies, "volunteers": 2_000, "gold_galaxies": len(gold),
        "aggregation_s": round(seconds, 1),
        **{f"{name}_accuracy": round(float(np.mean(values)), 4) for name, values in accuracy.items()},
    }  # fmt: skip


def _asked(tree, truth):
    """The (question, true answer) pairs a volunteer who always answers truly is asked."""
    key = tree["first"]
    while key is not None:
        answer = next(a for a in tree["questions"][key]["answers"] if a["key"] == truth[key])
        yield key, truth[key]
        key = answer["next"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 galaxies, 10 s of volunteers, 100,000 votes")
    parser.add_argument("--volunteers", type=int, default=VOLUNTEERS, help="volunteers at once (default 50)")
    args = parser.parse_args()
    galaxies, seconds, vote_galaxies = (100_000, 10, 10_000) if args.quick else (1_000_000, 30, 100_000)
    with embedded_portal("arrayscope-labeling-"):
        from django.contrib.auth import get_user_model

        from portal.models import Membership, Tenant
        from portal.tenancy import tenant_context

        tenant = Tenant.objects.create(slug="labeling", name="Labeling")
        owner = get_user_model().objects.create_user("owner", password="x")
        with tenant_context(tenant):
            Membership.objects.create(tenant=tenant, user=owner, role="admin")
        figures, baseline, first_target = volunteers_figures(tenant, owner, galaxies, seconds, args.volunteers)
        figures["aggregation"] = aggregation_figures(tenant, owner, first_target, vote_galaxies, 10)
    figures["goals"] = GOALS
    ratio = {
        "fraction_of_floor": round(figures["cycles_per_s"] / baseline["floor_cycles_per_s"], 2),
        "next_p95_over_floor_p95": round(figures["next_p95_ms"] / baseline["floor_half_load_request_p95_ms"], 1),
        "weighted_over_majority_errors_first_question": round(
            (1 - figures["aggregation"]["weighted_first_question_accuracy"])
            / max(1e-9, 1 - figures["aggregation"]["majority_first_question_accuracy"]), 2),
    }  # fmt: skip
    figures["within_goals"] = (figures["next_p95_ms"] < GOALS["next_p95_ms"]
                               and figures["submissions_per_s"] >= GOALS["submissions_per_s"]
                               and ratio["fraction_of_floor"] >= GOALS["fraction_of_floor"]
                               and figures["aggregation"]["aggregation_s"] < GOALS["aggregation_s"])  # fmt: skip
    print(json.dumps({"benchmark": "labeling", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
