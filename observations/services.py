"""Target operations shared by pages, the API, commands and workers."""

from astropy import units as u
from astropy.coordinates import SkyCoord
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from .models import Target, Visibility
from .sky import cone_index_ranges

TABLE = Target._meta.db_table
# Great-circle distance in degrees (haversine; PostgreSQL's degree-based trigonometry).
SEPARATION_SQL = (
    f'2 * asind(least(1, sqrt(sind(("{TABLE}".dec_deg - %s) / 2) ^ 2 '
    f'+ cosd("{TABLE}".dec_deg) * cosd(%s) * sind(("{TABLE}".ra_deg - %s) / 2) ^ 2)))'
)


def visible_targets(tenant, user=None):
    """Targets a member of ``tenant`` may see: the tenant's own (private ones only to their
    creator) and every tenant's public ones."""
    own = Q(tenant=tenant) & (~Q(visibility=Visibility.PRIVATE) | Q(created_by=user))
    return Target.objects.filter(own | Q(visibility=Visibility.PUBLIC))


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
    coordinate = target_coordinate(target)
    return (
        coordinate.ra.to_string(unit=u.hourangle, sep="hms", precision=2, pad=True),
        coordinate.dec.to_string(unit=u.deg, sep="dms", precision=1, alwayssign=True, pad=True),
    )


def cone_search(queryset, coordinate, radius):
    """Targets of ``queryset`` within ``radius`` of ``coordinate``, nearest first, with
    ``separation_deg``. HEALPix ranges narrow the search through the index; the exact
    great-circle distance decides."""
    ranges = cone_index_ranges(coordinate, radius)
    # One SQL condition for all ranges: building a Q per range costs more than the query.
    in_cover = RawSQL(
        "(" + " OR ".join([f'"{TABLE}".healpix BETWEEN %s AND %s'] * len(ranges)) + ")",
        [bound for pair in ranges for bound in pair],
        output_field=BooleanField(),
    )
    ra, dec = float(coordinate.ra.deg), float(coordinate.dec.deg)
    separation = RawSQL(SEPARATION_SQL, (dec, dec, ra))
    return (
        queryset.filter(in_cover)
        .annotate(separation_deg=separation)
        .filter(separation_deg__lte=radius.to_value(u.deg))
        .order_by("separation_deg")
    )


def find_duplicates(tenant, name, coordinate, radius=None):
    """The tenant's targets with this name (or alias), or within the duplicate radius."""
    radius = radius if radius is not None else settings.TARGET_DUPLICATE_RADIUS_ARCSEC * u.arcsec
    own = Target.objects.filter(tenant=tenant)
    by_name = own.annotate(lower_name=Lower("name")).filter(Q(lower_name=name.lower()) | Q(aliases__contains=[name]))
    nearby = cone_search(own, coordinate, radius)
    return list(by_name) + [target for target in nearby if target.name.lower() != name.lower()]


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
    return target
