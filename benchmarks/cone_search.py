"""Cone-search latency over a million targets: the service vs numpy brute force.

Loads 1,000,000 targets spread uniformly over the sky into a fresh embedded database,
then times 1-arcminute and 1-degree cone searches through ``observations.services``
(the app's role, row-level security on, a tenant active — the production path) and a
numpy haversine over the same catalogue in memory. Checks the two agree on every query.

    python benchmarks/cone_search.py [--quick]
"""

import argparse
import io
import json
import os
import time

import numpy as np
from embedded_portal import embedded_portal, machine


def uniform_sky(rng, n):
    return rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))


def load_catalogue(tenant_id, ra, dec):
    """COPY as the owner: bulk loading is set-up, not the path being measured. VACUUM does at
    once what autovacuum does soon after a bulk load: marks the pages all-visible, so cone
    candidates are checked from the covering index without visiting the table."""
    import psycopg

    from observations.sky import healpix_index

    pixels = healpix_index(ra, dec)
    buffer = io.StringIO()
    for i, (r, d, p) in enumerate(zip(ra.tolist(), dec.tolist(), pixels.tolist())):
        buffer.write(
            f"{tenant_id}\tB{i}\t{{}}\t{r!r}\t{d!r}\t0\t0\t2000\tgalaxy\t{{}}\ttenant\t{p}\t2026-01-01T00:00:00Z\n"
        )
    columns = (
        "tenant_id, name, aliases, ra_deg, dec_deg, pm_ra_cosdec_mas_yr, pm_dec_mas_yr, epoch_jyear, kind, tags, "
        "visibility, healpix, created_at"
    )
    with psycopg.connect(os.environ["DATABASE_ADMIN_URL"], autocommit=True) as conn:
        with conn.cursor().copy(f"COPY observations_target ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        conn.execute("VACUUM (ANALYZE) observations_target")


def brute_force(ra_rad, dec_rad, centre_ra, centre_dec, radius_deg):
    ra0, dec0 = np.radians(centre_ra), np.radians(centre_dec)
    h = np.sin((dec_rad - dec0) / 2) ** 2 + np.cos(dec_rad) * np.cos(dec0) * np.sin((ra_rad - ra0) / 2) ** 2
    return np.flatnonzero(2 * np.arcsin(np.sqrt(np.minimum(h, 1))) <= np.radians(radius_deg))


def percentile_ms(samples, q):
    return round(float(np.percentile(samples, q)) * 1e3, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 targets and fewer queries")
    args = parser.parse_args()
    n_targets, n_queries = (100_000, 50) if args.quick else (1_000_000, 300)
    rng = np.random.default_rng(1)
    with embedded_portal("arrayscope-cone-"):
        figures, baseline = run(rng, n_targets, n_queries)
    print(
        json.dumps(
            {
                "benchmark": "cone_search",
                "machine": machine(),
                "figures": figures,
                "baseline": baseline,
                "ratio": {
                    f"speedup_p50_{label}": round(
                        baseline[f"brute_force_p50_ms_{label}"] / figures[f"p50_ms_{label}"], 1
                    )
                    for label in ("1arcmin", "1deg")
                },
            }
        )
    )


def run(rng, n_targets, n_queries):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from observations.models import Target
    from observations.services import cone_search
    from portal.models import Tenant
    from portal.tenancy import tenant_context

    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    ra, dec = uniform_sky(rng, n_targets)
    load_catalogue(tenant.pk, ra, dec)
    ra_rad, dec_rad = np.radians(ra), np.radians(dec)
    figures, baseline = {"targets": n_targets, "queries_per_radius": n_queries}, {}
    with tenant_context(tenant):
        for label, radius in (("1arcmin", 1 * u.arcmin), ("1deg", 1 * u.deg)):
            centres = list(zip(*uniform_sky(rng, n_queries)))
            cone_search(tenant, SkyCoord(1 * u.deg, 1 * u.deg), radius)  # warm the connection and its prepared plan
            # Each method answers every query in its own pass: interleaved, the brute force's
            # 40 MB sweeps would evict the database's pages and plans from the CPU caches
            # before every indexed query, which is not how either runs in production.
            service, found, answers = [], 0, []
            for centre_ra, centre_dec in centres:
                centre = SkyCoord(centre_ra * u.deg, centre_dec * u.deg)
                started = time.perf_counter()
                names = [t.name for t in cone_search(tenant, centre, radius)]
                service.append(time.perf_counter() - started)
                answers.append(names)
                found += len(names)
            brute = []
            for (centre_ra, centre_dec), names in zip(centres, answers):
                started = time.perf_counter()
                expected = brute_force(ra_rad, dec_rad, centre_ra, centre_dec, radius.to_value(u.deg))
                brute.append(time.perf_counter() - started)
                if sorted(names) != sorted(f"B{i}" for i in expected):
                    raise SystemExit(f"cone search disagrees with brute force at {centre_ra}, {centre_dec}")
            figures.update(
                {
                    f"p50_ms_{label}": percentile_ms(service, 50),
                    f"p95_ms_{label}": percentile_ms(service, 95),
                    f"mean_results_{label}": round(found / n_queries, 2),
                }
            )
            baseline.update(
                {
                    f"brute_force_p50_ms_{label}": percentile_ms(brute, 50),
                    f"brute_force_p95_ms_{label}": percentile_ms(brute, 95),
                }
            )
        assert Target.objects.count() == n_targets
    return figures, baseline


if __name__ == "__main__":
    main()
