"""The partner API under fifty clients at once: what each endpoint answers per second and how
fast, next to the web stack's floor in the same run.

Starts a throw-away portal as ``./arrayscope run`` does (embedded PostgreSQL and Redis, the
Daphne web processes; no workers: nothing measured here waits on one) with one observatory
holding 100,000 targets spread over the sky, 100,000 galaxies with embeddings of the
production morphology model (convnext_atto's 320 features, in clumps as real ones lie), and
20 frames. Fifty clients, each a partner's script on a keep-alive connection with a key of its
own (one key's rate limit, 120/s, is not what is measured), call one endpoint at a time:

- ``floor``: ``/favicon.ico``, a redirect: Django's whole middleware, no key, no database;
- ``whoami``: the cheapest call with a key (authentication, permission, rate limit);
- ``target_list``: ``/api/v1/targets/?limit=20``;
- ``cone_search``: ``/api/v1/targets/?ra=&dec=&radius=10arcmin`` at random centres;
- ``similar``: ``/api/v1/targets/<id>/similar/?k=10`` of random galaxies;
- ``frame_detail``: ``/api/v1/frames/<id>/``;
- ``alert_post``: ``POST /api/v1/alerts/`` of one ZTF packet with its three stamps.

Each first as fast as the server answers, for ``SECONDS`` (requests per second, CPU per request
of each part), then paced, all together at half that rate (a server at half load: flat out,
fifty clients only measure the queue they make): p50 and p95. Goals: each read endpoint at
least half the floor's requests per second with p95 under 50 ms; single-alert POSTs at least
150 a second on 2 cores.

    python benchmarks/api.py [--quick]

``--quick``: 20,000 targets and galaxies, 5 s per endpoint.
"""

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
from alert_latency import packets
from cone_search import load_catalogue, percentile_ms, uniform_sky
from embedded_portal import embedded_portal, machine
from http_crowd import Browser, crowd, cycles

CLIENTS = 50
FRAMES = 20
READS = ("whoami", "target_list", "cone_search", "similar", "frame_detail")
GOALS = {"read_fraction_of_floor": 0.5, "read_p95_ms": 50, "alert_posts_per_s": 150}


def observatory(count):
    """(tenant, one key per client, ids of the galaxies with embeddings, ids of the frames)."""
    from django.contrib.auth import get_user_model
    from similarity import embeddings, load

    from mlmodels.registry import create_model, promote, save_version
    from observations.ingest import ingest_frame
    from observations.synthetic import make_frame
    from portal.demo import load_site
    from portal.models import ApiKey, Membership, Tenant
    from portal.tenancy import tenant_context
    from tests.observations.conftest import to_bytes

    rng = np.random.default_rng(21)
    tenant = Tenant.objects.create(slug="partners", name="Partners' observatory")
    admin = get_user_model().objects.create_user("admin", password="x")
    with tenant_context(tenant):
        Membership.objects.create(tenant=tenant, user=admin, role="admin")
        model = create_model(tenant, admin, name="morphology", task="morphology", architecture="convnext_atto",
                             class_names=["elliptical", "spiral", "merger"])  # fmt: skip
        version = promote(save_version(model, admin, weights={"w": np.zeros(1, np.float32)}))
    vectors, clusters = embeddings(rng, count)
    load(version, [tenant.pk], vectors, clusters, rng)  # galaxies 1 … count, with their images
    load_catalogue(tenant.pk, *uniform_sky(rng, count))
    with tenant_context(tenant):
        load_site(tenant, {"code": "tfn", "name": "Teide", "latitude_deg": 28.3, "longitude_deg": -16.5,
                           "height_m": 2390, "telescopes": [("1m0a", "Teide 1.0 m", 1.0, 26.5, 0.389, "sinistro",
                                                             [("r", 623, 138)])]})  # fmt: skip
        frames = [ingest_frame(tenant, admin, to_bytes([make_frame(ra_deg=rng.uniform(0, 360), dec_deg=rng.uniform(
            -60, 60), seed=seed, obs_time="2026-03-14T22:00:00")]), f"f{seed}.fits").frame.pk
            for seed in range(FRAMES)]  # fmt: skip
        keys = [ApiKey.issue(tenant=tenant, created_by=admin, name=f"client {n}", scope="write")[1]
                for n in range(CLIENTS)]  # fmt: skip
    return tenant, keys, list(range(1, count + 1)), frames


def request_for(endpoint, rng, galaxies, frames, alerts):
    """(method, path, body) of one call to ``endpoint``."""
    if endpoint == "floor":
        return "GET", "/favicon.ico", b""
    if endpoint == "whoami":
        return "GET", "/api/v1/whoami/", b""
    if endpoint == "target_list":
        return "GET", "/api/v1/targets/?limit=20", b""
    if endpoint == "cone_search":
        ra, dec = uniform_sky(rng, 1)
        return "GET", f"/api/v1/targets/?ra={ra[0]:.5f}&dec={dec[0]:.5f}&radius=10arcmin", b""
    if endpoint == "similar":
        return "GET", f"/api/v1/targets/{rng.choice(galaxies)}/similar/?k=10", b""
    if endpoint == "frame_detail":
        return "GET", f"/api/v1/frames/{rng.choice(frames)}/", b""
    return "POST", "/api/v1/alerts/", json.dumps(next(alerts)).encode()


async def client(port, key, endpoint, seed, seconds, every, results, galaxies, frames, alerts):
    rng = np.random.default_rng(seed)
    browser = Browser(port)
    headers = [("Authorization", f"Api-Key {key}"), ("Content-Type", "application/json")]
    try:
        async for _ in cycles(seconds, every, rng):
            method, path, body = request_for(endpoint, rng, galaxies, frames, alerts)
            started = time.perf_counter()
            status, _ = await browser.request(method, path, body, headers if endpoint != "floor" else ())
            results["request_s"].append(time.perf_counter() - started)
            results["statuses"][status] += 1
            results["cycles"] += 1
    finally:
        browser.close()


def fresh_alerts():
    """Packets never sent before, without end: 200 drawn, then sent again under new ids."""
    drawn = packets(200)
    for index in itertools.count():
        yield dict(drawn[index % len(drawn)], candid=2 * 10**15 + index, objectId=f"ZTF26api{index:07d}")


def endpoint_figures(port, servers, keys, endpoint, seconds, galaxies, frames, alerts):
    def run(every=None, first_seed=0):
        return crowd(lambda results: [client(port, keys[n], endpoint, first_seed + n, seconds, every, results, galaxies,
                                             frames, alerts) for n in range(CLIENTS)], servers)  # fmt: skip

    busy_s, busy, cpu = run()
    rate = busy["cycles"] / busy_s
    _, paced, _ = run(every=CLIENTS / (rate / 2), first_seed=CLIENTS)
    return {
        "requests_per_s": round(rate, 1),
        "cpu_ms_per_request": {part: round(used * 1e3 / max(1, busy["cycles"]), 2) for part, used in cpu.items()},
        "half_load_p50_ms": percentile_ms(paced["request_s"], 50),
        "half_load_p95_ms": percentile_ms(paced["request_s"], 95),
        "statuses": {str(status): n for status, n in (busy["statuses"] + paced["statuses"]).items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 targets and galaxies, 5 s per endpoint")
    args = parser.parse_args()
    count, seconds = (20_000, 5) if args.quick else (100_000, 15)
    with embedded_portal("arrayscope-api-"):
        from portal.launcher import spawn_web, stop_processes
        from tests.api_fuzz import wait_answering

        tenant, keys, galaxies, frames = observatory(count)
        alerts = fresh_alerts()
        env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0"}
        port = 8000 + os.getpid() % 1000
        servers = spawn_web("127.0.0.1", port, env, Path(os.environ["ARRAYSCOPE_VAR"]) / "log")
        try:
            wait_answering(f"http://127.0.0.1:{port}")
            for endpoint in ("floor", *READS):  # every process has served each once
                crowd(lambda results, endpoint=endpoint: [client(port, keys[n], endpoint, n, 1, None, results,
                                                                 galaxies, frames, alerts) for n in range(CLIENTS)],
                      servers)  # fmt: skip
            measured = {endpoint: endpoint_figures(port, servers, keys, endpoint, seconds, galaxies, frames, alerts)
                        for endpoint in ("floor", *READS, "alert_post")}  # fmt: skip
        finally:
            stop_processes(servers)
    floor = measured.pop("floor")
    ratio = {f"{endpoint}_fraction_of_floor": round(measured[endpoint]["requests_per_s"] / floor["requests_per_s"], 2)
             for endpoint in READS}  # fmt: skip
    figures = {"targets": count * 2, "galaxies_with_embeddings": count, "frames": FRAMES, "clients": CLIENTS,
               "seconds_per_endpoint": seconds, **measured, "goals": GOALS}  # fmt: skip
    figures["within_goals"] = (
        all(ratio[f"{endpoint}_fraction_of_floor"] >= GOALS["read_fraction_of_floor"] for endpoint in READS)
        and all(measured[endpoint]["half_load_p95_ms"] < GOALS["read_p95_ms"] for endpoint in READS)
        and measured["alert_post"]["requests_per_s"] >= GOALS["alert_posts_per_s"]
    )
    print(json.dumps({"benchmark": "api", "machine": machine(), "figures": figures, "baseline": {"floor": floor},
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
