"""Galaxies like this one: nearest neighbours of a target image in a model version's
embedding space, through pgvector's HNSW index (cosine distance).

Each version's embeddings have their own partial index over ``vector::vector(dimensions)``
(see inference.ensure_embedding_index); a query names the version as a literal and orders
by that same expression so the planner can use it. Filters (the tenant and visibility
rule, class, site) are checked on the rows the index walks; pgvector 0.8's iterative scan
keeps walking until k rows pass, so a narrow filter still returns k neighbours.
"""

import functools
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from observations.models import Target, Visibility
from portal.sql import server_cursor

from .models import Embedding


class SimilarityError(ValueError):
    """A search that cannot be run; the message says why."""


SCOPES = {
    "all": "this observatory's and public galaxies",
    "mine": "this observatory's galaxies",
    "public": "public galaxies",
}

# The anchor's vector as a scalar subquery: computed once, it is a constant to the index scan.
ANCHOR_SQL = """(SELECT vector::vector({dimensions}) FROM mlmodels_embedding
                 WHERE version_id = {version} AND image_id = %(image)s)"""
FILTER_SQL = {
    "not_private": f"e.visibility <> '{Visibility.PRIVATE.value}'",
    "own_private": f"(e.visibility <> '{Visibility.PRIVATE.value}' OR e.target_id = ANY(%(own_private)s))",
    "mine": "e.tenant_id = %(tenant)s",
    "public": f"e.visibility = '{Visibility.PUBLIC.value}'",
    "label": "e.label = %(label)s",
    "site": "e.site_id = %(site)s",
}
SEARCH_SQL = """
WITH nearest AS MATERIALIZED (
    SELECT e.image_id, e.target_id, e.label, e.vector::vector({dimensions}) <=> {anchor} AS distance
    FROM mlmodels_embedding e
    WHERE e.version_id = {version} AND {anchor} IS NOT NULL AND e.image_id <> %(image)s {filters}
    ORDER BY e.vector::vector({dimensions}) <=> {anchor}
    LIMIT {k}
)
SELECT n.image_id, n.target_id, t.name, t.ra_deg, t.dec_deg, n.label, n.distance, s.code, o.slug, o.name
FROM nearest n
JOIN observations_targetimage i ON i.id = n.image_id
JOIN observations_target t ON t.id = n.target_id
JOIN portal_tenant o ON o.id = i.tenant_id
LEFT JOIN portal_site s ON s.id = i.site_id
ORDER BY n.distance, n.image_id
"""


@dataclass
class Neighbour:
    """One galaxy found: its image and target, what the model calls it, how far it lies."""

    image_id: int
    target_id: int
    name: str
    ra_deg: float
    dec_deg: float
    label: str
    distance: float
    site: str | None  # the site's code, when the asking observatory may see the site
    owner: str  # the observatory's slug
    owner_name: str


def search(tenant, user, image, version, *, k=12, scope="all", label=None, site=None):
    """The ``k`` images nearest ``image`` in ``version``'s embedding space, nearest first.

    Row-level security already limits the rows to the tenant's and public ones; ``scope``
    narrows to one of the two. Other members' private targets never appear. One statement
    answers it all (the anchor's vector, the walk, the names), as this is what a page and
    a partner's client wait on.
    """
    if scope not in SCOPES:
        raise SimilarityError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if not 1 <= k <= 100:
        raise SimilarityError(f"k must be between 1 and 100, not {k}")
    dimensions = embedding_dimensions(version)
    if dimensions is None:
        raise SimilarityError(not_embedded(image, version))
    own_private = []
    if getattr(user, "is_authenticated", False):
        own_private = list(Target.objects.filter(tenant=tenant, created_by=user, visibility=Visibility.PRIVATE)
                           .values_list("pk", flat=True))  # fmt: skip
    # Only the filters asked for are in the text, each one a plain condition: a prepared
    # statement's generic plan keeps to the index only when it can tell what each one costs.
    filters = [FILTER_SQL["own_private" if own_private else "not_private"]]
    if scope != "all":
        filters.append(FILTER_SQL[scope])
    filters += [FILTER_SQL[name] for name, value in (("label", label), ("site", site)) if value]
    anchor = ANCHOR_SQL.format(dimensions=dimensions, version=int(version.pk))
    sql = SEARCH_SQL.format(dimensions=dimensions, version=int(version.pk), anchor=anchor, k=int(k),
                            filters=" ".join(f"AND {condition}" for condition in filters))  # fmt: skip
    params = {"image": image.pk, "own_private": own_private, "tenant": tenant.pk, "label": label, "site": site}
    with transaction.atomic():  # the two settings hold for this transaction only
        with server_cursor() as cursor:
            cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                           "set_config('hnsw.ef_search', %s, true)", [str(settings.SIMILARITY_EF_SEARCH)])  # fmt: skip
            # Prepared once per connection and version (planning costs a third of the answer).
            rows = cursor.execute(sql, params, prepare=True, binary=True).fetchall()
    if not rows and not Embedding.objects.filter(version=version, image=image).exists():
        raise SimilarityError(not_embedded(image, version))
    return [Neighbour(*row[:6], float(row[6]), *row[7:]) for row in rows]


def ensure_embedding_index(version, dimensions):
    """Give the version its HNSW index the first time it has embeddings (through the owner's
    mlmodels_embedding_index function: the app's role may not create indexes)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"embedding_hnsw_v{version.pk}"])
        if cursor.fetchone()[0] is not None:
            return
        with transaction.atomic():  # its own short transaction: the build holds off writers to the table
            # Foreign keys are checked at commit; PostgreSQL will not build an index over rows
            # whose checks are still pending (an enclosing transaction's), so run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SELECT mlmodels_embedding_index(%s, %s)", [version.pk, dimensions])


def index_embeddings(version):
    """Build the version's similarity index once its embeddings are written (a no-op when it
    has none, or has its index already)."""
    dimensions = embedding_dimensions(version)
    if dimensions:
        ensure_embedding_index(version, dimensions)


def not_embedded(image, version):
    return (f"{image.target.name} has not been embedded by {version.model.name} v{version.number} yet; it is, "
            "minutes after a model is promoted or an image arrives")  # fmt: skip


@functools.lru_cache(maxsize=64)
def _dimensions(version_pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT vector_dims(vector) FROM mlmodels_embedding WHERE version_id = %s LIMIT 1",
                       [version_pk])  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        raise LookupError(version_pk)
    return row[0]


def embedding_dimensions(version):
    """The size of ``version``'s embeddings (fixed by its network), or None before it has any."""
    try:
        return _dimensions(version.pk)
    except LookupError:
        return None


def space_sample(version, *, include=(), limit=2000):
    """(vectors, labels, target names, image ids) of up to ``limit`` embeddings of ``version``
    this tenant may see (private targets left out), plus the images in ``include``: the
    points of the embedding map."""
    visible = Embedding.objects.filter(version=version).exclude(visibility=Visibility.PRIVATE)
    sample = visible.order_by("id").values("id")[:limit]  # a subquery: one round trip
    rows = list(visible.filter(Q(id__in=sample) | Q(image_id__in=list(include)))
                .values_list("vector", "label", "target__name", "image_id"))  # fmt: skip
    if not rows:
        return [], [], [], []
    vectors, labels, names, image_ids = zip(*rows)
    return list(vectors), list(labels), list(names), list(image_ids)
