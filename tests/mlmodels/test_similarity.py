"""Galaxies like this one: nearest first through the version's HNSW index, filters that still
return k neighbours, and only the galaxies the asking member may see."""

import numpy as np
import pytest
from django.db import connection

from mlmodels.models import Embedding
from mlmodels.registry import create_model, save_version
from mlmodels.similarity import SimilarityError, ensure_embedding_index, search
from observations.models import Target, TargetImage
from observations.services import update_target
from portal.models import Site
from portal.tenancy import tenant_context

DIMENSIONS = 16
CLUSTERS = ("elliptical", "spiral", "merger")


def embed(tenant, version, name, cluster, rng, *, label=None, visibility="tenant", site=None, user=None):
    """A target with an image whose embedding lies in ``cluster``'s direction."""
    target = Target.objects.create(tenant=tenant, name=name, ra_deg=rng.uniform(0, 360), dec_deg=0, kind="galaxy",
                                   visibility=visibility, created_by=user)  # fmt: skip
    image = TargetImage.objects.create(tenant=tenant, target=target, file="unused.fits", preview="unused.png",
                                       sha256=name, bands=["g", "r", "z"], width_px=64, height_px=64, source="test",
                                       site=site)  # fmt: skip
    vector = np.eye(DIMENSIONS)[CLUSTERS.index(cluster)] + rng.normal(0, 0.08, DIMENSIONS)
    Embedding.objects.create(tenant=tenant, version=version, image=image, target=target, visibility=visibility,
                             label=label or cluster, site=site, vector=vector)  # fmt: skip
    return image


@pytest.fixture
def galaxies(tenant_factory, settings):
    """Observatory A (the model's owner) and B, each with galaxies in three clusters; A's are
    tenant-only except ten public ones, B's likewise. A few of A's are 'rare', a few private."""
    settings.SIMILARITY_EF_SEARCH = 10  # a short candidate list: only the iterative scan finds k filtered rows
    a, a_users = tenant_factory(members=(("admin", "admin"), ("colleague", "astronomer")), sites=["tfn", "coj"])
    b, b_users = tenant_factory(sites=["cpt"])
    rng = np.random.default_rng(1)
    with tenant_context(a):
        model = create_model(a, a_users["admin"], name="m", task="morphology", architecture="convnext_atto",
                             class_names=CLUSTERS, visibility="public")  # fmt: skip
        version = save_version(model, a_users["admin"], weights={"w": np.zeros(1, np.float32)})
        tfn, coj = Site.objects.get(tenant=a, code="tfn"), Site.objects.get(tenant=a, code="coj")
        images = {"a": [], "a-public": [], "rare": [], "private": []}
        for n in range(90):
            cluster = CLUSTERS[n % 3]
            images["a"].append(embed(a, version, f"A{n}", cluster, rng, site=tfn if n % 2 else coj))
        for n in range(12):
            images["a-public"].append(embed(a, version, f"AP{n}", CLUSTERS[n % 3], rng, visibility="public",
                                            user=a_users["admin"]))  # fmt: skip
        for n in range(6):
            images["rare"].append(embed(a, version, f"R{n}", "elliptical", rng, label="merger", site=tfn))
        for n in range(4):
            images["private"].append(embed(a, version, f"P{n}", "elliptical", rng, visibility="private",
                                           user=a_users["colleague"]))  # fmt: skip
    with tenant_context(b):
        images["b"] = [embed(b, version, f"B{n}", "elliptical", rng) for n in range(30)]
        images["b-public"] = [embed(b, version, f"BP{n}", "elliptical", rng, visibility="public") for n in range(8)]
    with tenant_context(a):
        ensure_embedding_index(version, DIMENSIONS)
    return a, a_users, b, b_users, version, images, (tfn, coj)


@pytest.fixture
def index_only():
    """Make the planner take the HNSW index, as it does on a large table."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_seqscan")


def names(neighbours):
    return [n.name for n in neighbours]


def test_neighbours_come_nearest_first_from_the_same_cluster_and_never_the_galaxy_itself(galaxies, index_only):
    a, users, _, _, version, images, _ = galaxies
    anchor = images["a"][0]  # an elliptical
    with tenant_context(a):
        neighbours = search(a, users["admin"], anchor, version, k=10)
    assert len(neighbours) == 10 and anchor.target.name not in names(neighbours)
    assert [n.distance for n in neighbours] == sorted(n.distance for n in neighbours)
    assert all(n.label in ("elliptical", "merger") for n in neighbours), "all from the elliptical cluster"
    assert all(0 <= n.distance < 0.2 for n in neighbours)


def test_a_narrow_filter_still_returns_k_neighbours(galaxies, index_only):
    a, users, _, _, version, images, (tfn, _) = galaxies
    with tenant_context(a):
        rare = search(a, users["admin"], images["a"][0], version, k=5, label="merger", site=tfn.pk)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN SELECT 1 FROM mlmodels_embedding e WHERE e.version_id = %s "
                           "ORDER BY e.vector::vector(16) <=> %s::vector(16) LIMIT 5",
                           [version.pk, str([0.0] * DIMENSIONS)])  # fmt: skip
            plan = " ".join(row[0] for row in cursor.fetchall())
    assert f"embedding_hnsw_v{version.pk}" in plan
    assert len(rare) == 5
    assert {n.label for n in rare} == {"merger"} and {n.site for n in rare} == {"tfn"}
    assert set(names(rare)) <= {i.target.name for i in images["rare"]}, "the six rare ones are 6% of the rows"


def test_only_what_the_member_may_see_is_searched(galaxies, index_only):
    a, users, b, b_users, version, images, _ = galaxies
    with tenant_context(a):
        everything = search(a, users["admin"], images["a"][0], version, k=100)
        public = search(a, users["admin"], images["a"][0], version, k=100, scope="public")
        mine = search(a, users["admin"], images["a"][0], version, k=100, scope="mine")
        colleague = search(a, users["colleague"], images["a"][0], version, k=100)
    found = set(names(everything))
    assert not found & {i.target.name for i in images["b"]}, "B's own galaxies never show in A"
    assert {i.target.name for i in images["b-public"]} <= found, "B's public galaxies do"
    assert not found & {i.target.name for i in images["private"]}, "a colleague's private galaxies do not"
    assert {i.target.name for i in images["private"]} <= set(names(colleague)), "but their owner sees them"
    assert set(names(public)) == {i.target.name for i in images["a-public"] + images["b-public"]}
    assert all(name.startswith(("A", "R")) for name in names(mine))
    with tenant_context(b):
        from_b = search(b, b_users["admin"], images["b"][0], version, k=100)
    assert not set(names(from_b)) & {i.target.name for i in images["a"] + images["rare"]}


def test_an_image_not_embedded_yet_and_bad_arguments_say_so(galaxies):
    a, users, _, _, version, images, _ = galaxies
    with tenant_context(a):
        Embedding.objects.filter(image=images["a"][1]).delete()
        with pytest.raises(SimilarityError, match="A1 has not been embedded by m v1 yet"):
            search(a, users["admin"], images["a"][1], version)
        with pytest.raises(SimilarityError, match="scope must be one of all, mine, public"):
            search(a, users["admin"], images["a"][0], version, scope="everyone")
        with pytest.raises(SimilarityError, match="k must be between 1 and 100"):
            search(a, users["admin"], images["a"][0], version, k=0)


def test_a_target_made_private_leaves_other_members_searches(galaxies, index_only):
    a, users, b, b_users, version, images, _ = galaxies
    shared = images["a-public"][0].target
    with tenant_context(a):
        update_target(shared, visibility="private")
        colleague = search(a, users["colleague"], images["a"][0], version, k=100)
    with tenant_context(b):
        other = search(b, b_users["admin"], images["b"][0], version, k=100, scope="public")
    assert shared.name not in names(colleague) and shared.name not in names(other)
    assert {i.target.name for i in images["a-public"][1:]} <= set(names(other))
