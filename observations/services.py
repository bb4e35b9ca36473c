"""Target operations shared by pages, the API, commands and workers."""

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import FloatField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from portal.sql import server_cursor

from .light_curves import DEFAULT_WINDOW_HOURS, fuse_light_curve
from .models import FrameCalibration, Photometry, Target, Visibility
from .sky import cone_index_ranges

TABLE = Target._meta.db_table
TARGET_COLUMNS = [field.attname for field in Target._meta.concrete_fields]


def separation_sql(alias, ra="%(ra)s", dec="%(dec)s"):
    """Great-circle distance in degrees of ``alias``'s row (its ``ra_deg`` and ``dec_deg``
    columns) from the centre (``ra``, ``dec``: SQL, by default named parameters), the one
    definition of it in SQL: targets' cones here, alerts' in the alerts API. Haversine, which
    keeps arcsecond separations where the cosine formula loses them to rounding, in PostgreSQL's
    degree-based trigonometry; ``least`` keeps rounding out of asind's domain."""
    return (
        f"2 * asind(least(1, sqrt(sind(({alias}.dec_deg - {dec}) / 2) ^ 2 "
        f"+ cosd({alias}.dec_deg) * cosd({dec}) * sind(({alias}.ra_deg - {ra}) / 2) ^ 2)))"
    )


def separation_deg(model, ra_deg, dec_deg):
    """``separation_sql`` for a queryset of ``model`` (any model with ``ra_deg`` and
    ``dec_deg``) to annotate: its rows' distance in degrees from (``ra_deg``, ``dec_deg``)."""
    sql = separation_sql(f'"{model._meta.db_table}"', ra="%s", dec="%s")
    return RawSQL(sql, [dec_deg, dec_deg, ra_deg], output_field=FloatField())  # in the order the %s appear


# One statement text for every cone, so PostgreSQL plans it once per connection. The
# HEALPix cover arrives as two arrays; each range is an index-only scan of the covering
# target_sky index, and only targets inside the cone are then read from the table by id.
# Each LATERAL ... OFFSET 0 pins that shape: not knowing how narrow the ranges are, the
# planner would otherwise trade the per-range lookups for a scan of the whole table.
# The visibility rule is visible_targets' (below), widened by the two include_* switches.
CONE_SQL = f"""
SELECT {", ".join(f"t.{column}" for column in TARGET_COLUMNS)}, near.separation_deg
FROM unnest(%(low)s::bigint[], %(high)s::bigint[]) AS cover(low, high)
CROSS JOIN LATERAL (
    SELECT id, {separation_sql(TABLE)} AS separation_deg FROM {TABLE}
    WHERE healpix BETWEEN cover.low AND cover.high ORDER BY healpix OFFSET 0
) AS near
CROSS JOIN LATERAL (SELECT * FROM {TABLE} WHERE id = near.id OFFSET 0) AS t
WHERE near.separation_deg <= %(radius)s
  AND ((t.tenant_id = %(tenant)s::bigint
        AND (t.visibility <> '{Visibility.PRIVATE.value}' OR %(all_private)s OR t.created_by_id = %(user)s::bigint))
       OR (%(public)s AND t.visibility = '{Visibility.PUBLIC.value}'))
  AND (%(kind)s::text IS NULL OR t.kind = %(kind)s::text)
  AND (%(name)s::text IS NULL OR starts_with(lower(t.name), lower(%(name)s::text)) OR %(name)s::text = ANY(t.aliases))
ORDER BY near.separation_deg, t.id
LIMIT %(limit)s::bigint
"""


# Many small cones in one statement (each new alert object's crossmatch): one row per
# range of each cone's cover, carrying its cone's number and centre; the tenant's own
# targets only, private ones included, as the ingest of the tenant's data needs.
NEAREST_SQL = f"""
SELECT DISTINCT ON (cover.cone) cover.cone, {", ".join(f"t.{column}" for column in TARGET_COLUMNS)}
FROM unnest(%(cone)s::int[], %(low)s::bigint[], %(high)s::bigint[], %(ra)s::float8[], %(dec)s::float8[])
     AS cover(cone, low, high, ra, dec)
CROSS JOIN LATERAL (
    SELECT id, {separation_sql(TABLE, "cover.ra", "cover.dec")} AS separation_deg FROM {TABLE}
    WHERE healpix BETWEEN cover.low AND cover.high ORDER BY healpix OFFSET 0
) AS near
CROSS JOIN LATERAL (SELECT * FROM {TABLE} WHERE id = near.id OFFSET 0) AS t
WHERE near.separation_deg <= %(radius)s AND t.tenant_id = %(tenant)s::bigint
ORDER BY cover.cone, near.separation_deg, t.id
"""


class ConeMatches(list):
    """Targets nearest first, each with ``separation_deg``; ``truncated`` when more lay in the cone."""

    truncated = False


def visible_targets(tenant, user=None):
    """Targets a member of ``tenant`` may see: the tenant's own (private ones only to their
    creator) and every tenant's public ones."""
    own = Q(tenant=tenant) & (~Q(visibility=Visibility.PRIVATE) | Q(created_by=user))
    return Target.objects.filter(own | Q(visibility=Visibility.PUBLIC))


def light_curve_points(tenant, target):
    """``tenant``'s photometry of ``target``, oldest first (of another observatory's public
    target, only the measurements this one made), each with its calibrated value if it has one."""
    return (Photometry.objects.filter(tenant=tenant, target=target).select_related("site", "link", "calibrated")
            .order_by("mjd", "pk"))  # fmt: skip


def fused_light_curve(tenant, target, *, window_hours=DEFAULT_WINDOW_HOURS, points=None):
    """``tenant``'s light curve of ``target`` fused across sites, with the offsets of the sites
    whose frames of it were calibrated; ``points``: its light_curve_points, when already read."""
    calibrations = FrameCalibration.objects.filter(tenant=tenant, frame__target_links__target=target)
    points = light_curve_points(tenant, target) if points is None else points
    return fuse_light_curve(points, window_hours=window_hours, calibrations=calibrations.select_related("site", "run"))


def search_targets(queryset, params):
    """Narrow targets by the ``q`` (name or alias, case-insensitive prefix) and ``kind`` parameters."""
    if params.get("q"):
        text = params["q"].strip()
        queryset = queryset.filter(Q(name__istartswith=text) | Q(aliases__contains=[text]))
    if params.get("kind"):
        queryset = queryset.filter(kind=params["kind"])
    return queryset


def target_coordinate(target):
    return SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg, frame="icrs")


def position_table(target):
    """The target's position in the forms astronomers look for: ICRS, galactic, ecliptic."""
    coordinate = target_coordinate(target)
    ra_hms, dec_dms = sexagesimal(target)
    galactic = coordinate.galactic
    ecliptic = coordinate.barycentrictrueecliptic
    return [
        ("ICRS (sexagesimal)", f"{ra_hms} {dec_dms}"),
        ("ICRS (degrees)", f"{target.ra_deg:.6f} {target.dec_deg:+.6f}"),
        ("Galactic l, b", f"{galactic.l.deg:.5f} {galactic.b.deg:+.5f}"),
        ("Ecliptic λ, β", f"{ecliptic.lon.deg:.5f} {ecliptic.lat.deg:+.5f}"),
    ]


def sexagesimal(target):
    """(RA as 00h00m00.00s, Dec as +00d00m00.0s), the way astronomers read positions."""
    return sexagesimal_all([target])[0]


def sexagesimal_all(targets):
    """``sexagesimal`` of each target, formatted together: astropy formats an array of angles
    in one call for what a coordinate a target costs, and an API page lists a hundred."""
    if not targets:
        return []
    ra = Angle(np.array([target.ra_deg for target in targets], dtype=float), u.deg)
    dec = Angle(np.array([target.dec_deg for target in targets], dtype=float), u.deg)
    return list(zip(ra.to_string(unit=u.hourangle, sep="hms", precision=2, pad=True).tolist(),
                    dec.to_string(unit=u.deg, sep="dms", precision=1, alwayssign=True, pad=True).tolist()))  # fmt: skip


def cone_search(
    tenant,
    coordinate,
    radius,
    *,
    user=None,
    kind=None,
    name=None,
    include_public=True,
    include_all_private=False,
    limit=settings.CONE_SEARCH_MAX_RESULTS,
):
    """Targets within ``radius`` of ``coordinate`` that a member of ``tenant`` may see,
    nearest first, with ``separation_deg``; at most ``limit`` (None: all).

    ``kind`` and ``name`` (a name prefix or an exact alias) narrow it as ``search_targets``
    does. Ingest and duplicate checks widen or narrow the rule: ``include_all_private``
    adds colleagues' private targets, ``include_public=False`` keeps to the tenant's own.

    This is the hottest query of the portal (pages, API, every ingested frame), so it is
    one prepared statement on the connection's own psycopg cursor, not the ORM: compiling
    an ORM query costs more than PostgreSQL takes to answer it. Row-level security still
    applies: the connection is the app role's, with the tenant set.
    """
    position = coordinate.icrs.spherical if coordinate.frame.name != "icrs" else coordinate.spherical
    ra, dec = float(position.lon.deg), float(position.lat.deg)
    radius_deg = float(radius.to_value(u.deg))
    ranges = cone_index_ranges(ra, dec, radius_deg)
    params = {
        "low": [low for low, _ in ranges],
        "high": [high for _, high in ranges],
        "ra": ra,
        "dec": dec,
        "radius": radius_deg,
        "tenant": tenant.pk,
        "user": user.pk if user is not None and user.is_authenticated else None,
        "all_private": include_all_private,
        "public": include_public,
        "kind": kind or None,
        "name": name.strip() if name and name.strip() else None,
        "limit": None if limit is None else limit + 1,
    }
    with server_cursor() as cursor:
        rows = cursor.execute(CONE_SQL, params, prepare=True, binary=True).fetchall()
    matches = ConeMatches()
    for row in rows[:limit]:
        target = Target.from_db(connection.alias, TARGET_COLUMNS, row[:-1])
        target.separation_deg = row[-1]
        matches.append(target)
    matches.truncated = limit is not None and len(rows) > limit
    return matches


def nearest_targets(tenant, positions, radius):
    """For each (ra_deg, dec_deg) in ``positions`` (ICRS), the tenant's nearest target within
    ``radius`` (an angle), or None; private ones count. One statement for them all: an
    alert stream's new objects are crossmatched by the hundred, and a cone search each
    would be a round trip each."""
    radius_deg = float(radius.to_value(u.deg))
    params = {"cone": [], "low": [], "high": [], "ra": [], "dec": [], "radius": radius_deg, "tenant": tenant.pk}
    for cone, (ra, dec) in enumerate(positions):
        for low, high in cone_index_ranges(ra, dec, radius_deg):
            for key, value in zip(("cone", "low", "high", "ra", "dec"), (cone, low, high, ra, dec)):
                params[key].append(value)
    nearest = [None] * len(positions)
    if not params["cone"]:
        return nearest
    with server_cursor() as cursor:
        for cone, *row in cursor.execute(NEAREST_SQL, params, prepare=True, binary=True).fetchall():
            nearest[cone] = Target.from_db(connection.alias, TARGET_COLUMNS, row)
    return nearest


def target_named(tenant, name):
    """The tenant's target called ``name`` (case-insensitive) or having it as an alias, or None."""
    return _named(tenant, name.strip()).order_by("pk").first()


def _named(tenant, name, exclude=None):
    """The tenant's targets called ``name`` (case-insensitive) or having it as an alias."""
    targets = Target.objects.filter(tenant=tenant).annotate(lower_name=Lower("name"))
    if exclude is not None:
        targets = targets.exclude(pk=exclude.pk)
    return targets.filter(Q(lower_name=name.lower()) | Q(aliases__contains=[name]))


def find_duplicates(tenant, name, coordinate, radius=None):
    """The tenant's targets with this name (or alias), or within the duplicate radius."""
    radius = radius if radius is not None else settings.TARGET_DUPLICATE_RADIUS_ARCSEC * u.arcsec
    nearby = cone_search(tenant, coordinate, radius, include_public=False, include_all_private=True, limit=None)
    return list(_named(tenant, name)) + [target for target in nearby if target.name.lower() != name.lower()]


@transaction.atomic
def update_target(target, *, coordinate=None, **fields):
    """Change a target's names, kind, tags, visibility or position (ICRS SkyCoord).

    A name another of the tenant's targets already uses (as name or alias) is refused:
    names are how astronomers find targets and how frames' OBJECT keywords are read.
    """
    name = fields.get("name", target.name)
    clash = _named(target.tenant_id, name, exclude=target).first()
    if clash:
        raise ValidationError({"name": f"{clash.name} already goes by {name!r} in this observatory."})
    for field, value in fields.items():
        setattr(target, field, value)
    if coordinate is not None:
        target.ra_deg, target.dec_deg = float(coordinate.ra.deg), float(coordinate.dec.deg)
    target.full_clean(exclude=["healpix", "tenant"])
    target.save()
    # Similarity search filters on the embeddings' copy of the visibility: keep it in step.
    target.embeddings.exclude(visibility=target.visibility).update(visibility=target.visibility)
    return target


@transaction.atomic
def create_target(tenant, user, *, name, coordinate, allow_duplicate=False, **fields):
    """Create a target at ``coordinate`` (ICRS SkyCoord), refusing a likely duplicate.

    A duplicate by name is always refused; one that is only near another target is
    refused unless ``allow_duplicate`` (two stars can be close, two names cannot match).
    """
    duplicates = find_duplicates(tenant, name, coordinate)
    same_name = [t for t in duplicates if t.name.lower() == name.lower() or name in t.aliases]
    if same_name:
        raise ValidationError({"name": f"{same_name[0].name} already exists in this observatory."})
    if duplicates and not allow_duplicate:
        nearest = duplicates[0]
        raise ValidationError(
            {
                "position": f"{nearest.name} is only {nearest.separation_deg * 3600:.1f}″ away; "
                "create it anyway if they are distinct objects."
            }
        )
    target = Target(
        tenant=tenant,
        created_by=user,
        name=name,
        ra_deg=float(coordinate.ra.deg),
        dec_deg=float(coordinate.dec.deg),
        **fields,
    )
    target.full_clean(exclude=["healpix", "tenant"])
    target.save()
    # Similarity search filters on the embeddings' copy of the visibility: keep it in step.
    target.embeddings.exclude(visibility=target.visibility).update(visibility=target.visibility)
    return target
