"""'Galaxies like this one' over a million embeddings: the service (HNSW, iterative scan,
tenant filter by row-level security) vs exact search over the same rows.

Loads 1,000,000 embeddings of the production model's size (convnext_atto's 320 pooled
features) across 10 tenants (2% of each tenant's galaxies public) into a fresh embedded
database, builds the version's HNSW index through the same owner function the workers use,
then, after a warm-up of 1,000 searches (a serving database has its indexes in its cache;
the first searches after a bulk load read them from the kernel, reported as cold_*), asks
200 other galaxies (of every tenant) for their 10 nearest neighbours through
``mlmodels.similarity.search`` (the app's role, a tenant active) and through the same SQL
with index scans turned off (exact: every visible row compared). Recall@10 is the share of
the exact answer the service finds.

The vectors are drawn the way real embeddings lie: clumps (60 of them: six classes and
their sub-types) in a low-dimensional subspace (32 directions) of the 320, plus noise; uniform
random vectors, with no neighbours worth the name, would measure nothing a user does.

    python benchmarks/similarity.py [--quick]
"""

import argparse
import json
import os
import time

import numpy as np
from embedded_portal import embedded_portal, machine

DIMENSIONS = 320
TENANTS = 10
PUBLIC_SHARE = 0.02


def embeddings(rng, count):
    """(vectors, cluster of each): clumps in a 32-dimensional subspace, plus isotropic noise."""
    basis = np.linalg.qr(rng.normal(size=(DIMENSIONS, 32)))[0].T  # 32 orthonormal directions
    centres = rng.normal(size=(60, 32)) * 1.0
    clusters = rng.integers(0, 60, count)
    latent = centres[clusters] + rng.normal(scale=0.7, size=(count, 32))
    vectors = latent @ basis + rng.normal(scale=0.05, size=(count, DIMENSIONS))
    return np.maximum(vectors, 0).astype(np.float32), clusters  # pooled GELU features are mostly non-negative


def load(version, tenants, vectors, clusters, rng):
    """COPY as the owner (bulk loading is set-up, not what is measured): a target, an image
    and an embedding per vector, then the version's index with room to build in memory."""
    import psycopg
    from pgvector.psycopg import register_vector

    from mlmodels.synthetic_galaxies import KINDS

    count = len(vectors)
    owner = np.arange(count) % len(tenants)
    public = rng.random(count) < PUBLIC_SHARE
    labels = [KINDS[c % len(KINDS)] for c in clusters]
    with psycopg.connect(os.environ["DATABASE_ADMIN_URL"], autocommit=True) as conn:
        register_vector(conn)
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY observations_target (id, tenant_id, name, aliases, ra_deg, dec_deg, pm_ra_cosdec_mas_yr, "
            "pm_dec_mas_yr, epoch_jyear, kind, tags, visibility, healpix, created_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                copy.write_row((i + 1, tenants[owner[i]], f"G{i}", [], 10.0, 20.0, 0, 0, 2000, "galaxy", [],
                                "public" if public[i] else "tenant", 0, "2026-01-01T00:00:00Z"))  # fmt: skip
        with conn.cursor().copy(
            "COPY observations_targetimage (id, tenant_id, target_id, file, preview, sha256, bands, width_px, "
            "height_px, source, created_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                copy.write_row((i + 1, tenants[owner[i]], i + 1, "x.fits", "x.png", f"s{i}", ["g", "r", "z"], 64, 64,
                                "benchmark", "2026-01-01T00:00:00Z"))  # fmt: skip
        with conn.cursor().copy(
            "COPY mlmodels_embedding (tenant_id, version_id, image_id, target_id, visibility, label, vector) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["bigint", "bigint", "bigint", "bigint", "varchar", "varchar", "vector"])
            for i in range(count):
                copy.write_row((tenants[owner[i]], version.pk, i + 1, i + 1, "public" if public[i] else "tenant",
                                labels[i], vectors[i]))  # fmt: skip
        for table in ("observations_target", "observations_targetimage"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count})")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '6GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        conn.execute("SELECT mlmodels_embedding_index(%s, %s)", [version.pk, DIMENSIONS])
        built = time.perf_counter() - started
        conn.execute("VACUUM (ANALYZE) mlmodels_embedding")
    return owner, public, loaded, built


def exact(cursor, version, anchor, vector, k):
    """The same question as the service, answered by comparing every visible row."""
    cursor.execute("SET LOCAL enable_indexscan = off")
    cursor.execute(
        f"SELECT image_id FROM mlmodels_embedding e WHERE e.version_id = {int(version.pk)} AND e.image_id <> %s "
        f"AND e.visibility <> 'private' ORDER BY e.vector::vector({DIMENSIONS}) <=> %s::vector({DIMENSIONS}), "
        "image_id LIMIT %s",
        [anchor, vector, k],
    )
    return [row[0] for row in cursor.fetchall()]


def percentile_ms(samples, q):
    return round(float(np.percentile(samples, q)) * 1e3, 3)


def run(count, queries, warmup, k=10):
    from django.db import connection, transaction
    from pgvector import Vector

    from mlmodels.registry import create_model, save_version
    from mlmodels.similarity import search
    from observations.models import TargetImage
    from portal.models import Tenant
    from portal.tenancy import tenant_context

    rng = np.random.default_rng(3)
    tenants = [Tenant.objects.create(slug=f"bench-{n}", name=f"Benchmark {n}") for n in range(TENANTS)]
    with tenant_context(tenants[0]):
        model = create_model(tenants[0], None, name="morphology", task="morphology", architecture="convnext_atto",
                             class_names=["a"], visibility="public")  # fmt: skip
        version = save_version(model, None, weights={"w": np.zeros(1, np.float32)})
    vectors, clusters = embeddings(rng, count)
    owner, public, loaded, built = load(version, [t.pk for t in tenants], vectors, clusters, rng)
    service, baseline, recalls, cold = [], [], [], []
    candidates = rng.permutation(np.flatnonzero(~public))
    warm_up, asked = candidates[:warmup].tolist(), candidates[warmup : warmup + queries].tolist()
    for row in warm_up:  # the first searches after the bulk load read the index from the kernel, not the cache
        tenant = tenants[owner[row]]
        with tenant_context(tenant):
            image = TargetImage.objects.select_related("target").get(pk=row + 1)
            started = time.perf_counter()
            search(tenant, None, image, version, k=k)
            cold.append(time.perf_counter() - started)
    # Each method answers every query in its own pass: interleaved, the exact search's sweeps
    # over 1.3 GB of vectors would evict the index from the CPU caches before every search.
    answers = []
    for row in asked:
        tenant = tenants[owner[row]]
        with tenant_context(tenant):
            image = TargetImage.objects.select_related("target").get(pk=row + 1)
            started = time.perf_counter()
            answers.append([n.image_id for n in search(tenant, None, image, version, k=k)])
            service.append(time.perf_counter() - started)
    for row, found in zip(asked, answers):
        with tenant_context(tenants[owner[row]]), transaction.atomic(), connection.cursor() as cursor:
            vector = Vector(vectors[row]).to_text()
            started = time.perf_counter()
            truth = exact(cursor, version, row + 1, vector, k)
            baseline.append(time.perf_counter() - started)
        recalls.append(len(set(found) & set(truth)) / k)
    visible = (count // TENANTS) + int(public.sum() * (TENANTS - 1) / TENANTS)
    figures = {"embeddings": count, "dimensions": DIMENSIONS, "tenants": TENANTS, "queries": queries, "k": k,
               "visible_rows_per_tenant": visible, "recall_at_10": round(float(np.mean(recalls)), 4),
               "recall_at_10_min": round(float(np.min(recalls)), 2), "p50_ms": percentile_ms(service, 50),
               "p95_ms": percentile_ms(service, 95), "load_s": round(loaded, 1),
               "index_build_s": round(built, 1), "warmup_queries": warmup,
               "cold_p50_ms": percentile_ms(cold[:queries], 50),
               "cold_p95_ms": percentile_ms(cold[:queries], 95)}  # fmt: skip
    base = {"exact_p50_ms": percentile_ms(baseline, 50), "exact_p95_ms": percentile_ms(baseline, 95)}
    return figures, base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 embeddings and 50 queries")
    args = parser.parse_args()
    count, queries, warmup = (100_000, 50, 100) if args.quick else (1_000_000, 200, 1000)
    with embedded_portal("arrayscope-similarity-"):
        figures, baseline = run(count, queries, warmup)
    ratio = {"speedup_p50": round(baseline["exact_p50_ms"] / figures["p50_ms"], 1),
             "speedup_p95": round(baseline["exact_p95_ms"] / figures["p95_ms"], 1)}  # fmt: skip
    print(json.dumps({"benchmark": "similarity", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
