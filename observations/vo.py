"""IVOA Simple Cone Search (SCS 1.03) over a tenant's targets and frames, as VOTables.

TOPCAT, Aladin and pyvo speak this protocol without configuration: ``RA``, ``DEC`` and ``SR``
in ICRS degrees, ``VERB`` for how many columns, and a VOTable whose id, RA and Dec columns carry
the UCDs the standard names. A query the service cannot answer is a VOTable too, with one
``INFO name="Error"`` saying why, which the clients show as the reason; ``SR=0`` asks only for
the columns. Built with astropy.io.votable, so what is written is what astropy reads.
"""

import io
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile
from django.conf import settings
from django.db.models import prefetch_related_objects

from .models import Frame
from .services import cone_search
from .sky import PositionError, position_from_degrees

CONTENT_TYPE = "text/xml;content=x-votable"
MAX_SR_DEG = 10.0  # a wider cone is a catalogue dump, not a search: the API's lists page through those
# A frame is found when the cone reaches its footprint polygon. The frames tested are those whose
# centre is within SR plus room for the widest camera the portal could hold.
WIDEST_FRAME_RADIUS_DEG = 5.0


class ConeSearchRefused(ValueError):
    """A cone search the service cannot answer; the message is the VOTable's Error INFO."""


@dataclass(frozen=True)
class ConeQuery:
    coordinate: SkyCoord
    radius_deg: float
    verbosity: int

    @property
    def metadata_only(self):
        return self.radius_deg == 0


@dataclass(frozen=True)
class Column:
    """One VOTable column: its name, type and meaning, and from which verbosity it is shown."""

    name: str
    datatype: str
    ucd: str
    description: str
    unit: str | None = None
    arraysize: str | None = None
    verbosity: int = 1


def parse_cone_query(params):
    """The SCS query in ``params`` (a QueryDict: names are matched whatever their case, as
    clients differ), or ConeSearchRefused naming the parameter."""
    values = {name.upper(): value for name, value in params.items()}
    numbers = {}
    for name in ("RA", "DEC", "SR"):
        if values.get(name, "") == "":
            raise ConeSearchRefused(f"{name} is required: RA and DEC in ICRS degrees, SR the radius in degrees")
        try:
            numbers[name] = float(values[name])
        except ValueError:
            raise ConeSearchRefused(f"{name} must be a number of degrees, not {values[name]!r}") from None
        if not np.isfinite(numbers[name]):
            raise ConeSearchRefused(f"{name} must be a finite number of degrees, not {values[name]!r}")
    if not 0 <= numbers["SR"] <= MAX_SR_DEG:
        raise ConeSearchRefused(f"SR must be from 0 to {MAX_SR_DEG:g} degrees, not {numbers['SR']:g}")
    try:
        coordinate = position_from_degrees(numbers["RA"] % 360.0, numbers["DEC"])
    except PositionError as error:
        raise ConeSearchRefused(f"{error.field.upper()}: {error.message}") from None
    verbosity = values.get("VERB", "2")
    if verbosity not in ("1", "2", "3"):
        raise ConeSearchRefused(f"VERB must be 1, 2 or 3, not {verbosity!r}")
    return ConeQuery(coordinate, numbers["SR"], int(verbosity))


TARGET_COLUMNS = (
    Column("id", "long", "ID_MAIN", "the target's id in this portal (the API's /api/v1/targets/<id>/)"),
    Column("ra", "double", "POS_EQ_RA_MAIN", "right ascension, ICRS", "deg"),
    Column("dec", "double", "POS_EQ_DEC_MAIN", "declination, ICRS", "deg"),
    Column("name", "char", "ID_ALTERNATIVE", "the target's name", arraysize="*", verbosity=2),
    Column(
        "kind", "char", "CLASS_OBJECT", "what the target is (galaxy, star, transient…)", arraysize="*", verbosity=2
    ),  # fmt: skip
    Column("separation", "double", "POS_ANG_DIST_GENERAL", "distance from the cone's centre", "arcsec", verbosity=2),
    Column("aliases", "char", "ID_ALTERNATIVE", "other names, separated by '|'", arraysize="*", verbosity=3),
    Column("tags", "char", "META_NOTE", "tags, separated by '|'", arraysize="*", verbosity=3),
    Column("owner", "char", "ID_CATALOG", "the observatory whose target it is", arraysize="*", verbosity=3),
    Column("pm_ra_cosdec", "double", "POS_EQ_PMRA", "proper motion in RA × cos(Dec)", "mas/yr", verbosity=3),
    Column("pm_dec", "double", "POS_EQ_PMDEC", "proper motion in Dec", "mas/yr", verbosity=3),
)

FRAME_COLUMNS = (
    Column("id", "long", "ID_MAIN", "the frame's id in this portal (the API's /api/v1/frames/<id>/)"),
    Column("ra", "double", "POS_EQ_RA_MAIN", "right ascension of the frame's centre, ICRS", "deg"),
    Column("dec", "double", "POS_EQ_DEC_MAIN", "declination of the frame's centre, ICRS", "deg"),
    Column(
        "access_url",
        "char",
        "VOX:Image_AccessReference",
        "where the FITS file is downloaded (with the same key)",
        arraysize="*",
    ),  # fmt: skip
    Column("obs_time", "char", "TIME_DATE", "start of the exposure, UTC (ISO 8601)", arraysize="*", verbosity=2),
    Column("mjd_obs", "double", "TIME_EPOCH", "start of the exposure", "d", verbosity=2),
    Column("exptime", "double", "TIME_EXPTIME", "exposure time", "s", verbosity=2),
    Column("filter", "char", "INST_FILTER_CODE", "the filter", arraysize="*", verbosity=2),
    Column("site", "char", "INST_ID", "the site's code", arraysize="*", verbosity=2),
    Column("telescope", "char", "INST_ID", "the telescope's code", arraysize="*", verbosity=2),
    Column(
        "separation",
        "double",
        "POS_ANG_DIST_GENERAL",
        "distance of the frame's centre from the cone's centre",
        "arcsec",
        verbosity=2,
    ),  # fmt: skip
    Column("original_name", "char", "ID_FILE", "the file's name as uploaded", arraysize="*", verbosity=3),
    Column("width", "int", "INST_DET_SIZE", "width", "pix", verbosity=3),
    Column("height", "int", "INST_DET_SIZE", "height", "pix", verbosity=3),
    Column("pixel_scale", "double", "INST_SCALE", "pixel scale", "arcsec", verbosity=3),
    Column(
        "s_region",
        "char",
        "VOX:Image_Footprint",
        "the footprint, as 'POLYGON ICRS ra dec …' in degrees",
        arraysize="*",
        verbosity=3,
    ),  # fmt: skip
)


def target_cone_votable(tenant, user, query):
    """The targets a member of ``tenant`` may see in the cone, nearest first, as VOTable bytes."""
    columns = _shown(TARGET_COLUMNS, query)
    rows, truncated = [], False
    if not query.metadata_only:
        matches = cone_search(tenant, query.coordinate, query.radius_deg * u.deg, user=user,
                              limit=settings.CONE_SEARCH_MAX_RESULTS)  # fmt: skip
        truncated = matches.truncated
        if query.verbosity >= 3:
            prefetch_related_objects(matches, "tenant")
        rows = [{"id": target.pk, "ra": target.ra_deg, "dec": target.dec_deg, "name": target.name,
                 "kind": target.kind, "separation": target.separation_deg * 3600, "aliases": "|".join(target.aliases),
                 "tags": "|".join(target.tags), "owner": target.tenant.slug if query.verbosity >= 3 else None,
                 "pm_ra_cosdec": target.pm_ra_cosdec_mas_yr, "pm_dec": target.pm_dec_mas_yr}
                for target in matches]  # fmt: skip
    return _votable("targets", "Targets in the cone, nearest first", columns, rows, truncated)


def frame_cone_votable(tenant, query, access_url):
    """The tenant's frames whose footprint the cone reaches, nearest centre first, as VOTable
    bytes; ``access_url(frame)`` is where each one's FITS file is downloaded."""
    columns = _shown(FRAME_COLUMNS, query)
    rows, truncated = [], False
    if not query.metadata_only:
        frames, truncated = _frames_reached(tenant, query)
        rows = [{"id": frame.pk, "ra": frame.ra_center_deg, "dec": frame.dec_center_deg,
                 "access_url": access_url(frame), "obs_time": frame.obs_time.isoformat(), "mjd_obs": frame.mjd_obs,
                 "exptime": frame.exptime_s, "filter": frame.filter_name,
                 "site": frame.site.code if frame.site else "", "telescope": frame.telescope.code if frame.telescope
                 else "", "separation": separation * 3600, "original_name": frame.original_name,
                 "width": frame.width_px, "height": frame.height_px, "pixel_scale": frame.pixel_scale_arcsec,
                 "s_region": "POLYGON ICRS " + " ".join(f"{ra:.7f} {dec:.7f}" for ra, dec in frame.footprint)}
                for frame, separation in frames]  # fmt: skip
    return _votable("frames", "Frames whose footprint the cone reaches, nearest centre first", columns, rows, truncated)


def _frames_reached(tenant, query):
    """[(frame, separation of its centre in degrees)] nearest first, at most the cone search's
    limit, and whether there were more."""
    dec = query.coordinate.dec.deg
    reach = query.radius_deg + WIDEST_FRAME_RADIUS_DEG
    candidates = list(
        Frame.objects.filter(tenant=tenant, has_astrometry=True, dec_center_deg__gte=dec - reach,
                             dec_center_deg__lte=dec + reach)
        .select_related("site", "telescope")
        .only("id", "ra_center_deg", "dec_center_deg", "footprint", "obs_time", "mjd_obs", "exptime_s", "filter_name",
              "site__code", "telescope__code", "original_name", "width_px", "height_px", "pixel_scale_arcsec")
    )  # fmt: skip
    if not candidates:
        return [], False
    centres = SkyCoord([f.ra_center_deg for f in candidates], [f.dec_center_deg for f in candidates], unit="deg")
    separations = query.coordinate.separation(centres).deg
    near = np.flatnonzero(separations <= query.radius_deg + WIDEST_FRAME_RADIUS_DEG)
    reached = np.array([i for i in near if _footprint_reached(candidates[i], centres[i], separations[i], query)],
                       dtype=int)  # fmt: skip
    reached = reached[np.argsort(separations[reached], kind="stable")]
    limit = settings.CONE_SEARCH_MAX_RESULTS
    return [(candidates[i], float(separations[i])) for i in reached[:limit]], len(reached) > limit


def _footprint_reached(frame, centre, separation_deg, query):
    """Whether the cone reaches the frame's footprint: its centre inside the polygon, or within
    the radius of one of its edges (without a polygon, of the frame's centre). Measured in
    offsets from the frame's centre, where a frame's few degrees at most are flat enough."""
    if len(frame.footprint) < 3:
        return separation_deg <= query.radius_deg
    offsets = centre.skyoffset_frame()
    corners = np.array(frame.footprint, dtype=float)
    polygon = SkyCoord(corners[:, 0], corners[:, 1], unit="deg").transform_to(offsets)
    xs, ys = polygon.lon.wrap_at(180 * u.deg).deg, polygon.lat.deg
    point = query.coordinate.transform_to(offsets)
    x, y = point.lon.wrap_at(180 * u.deg).deg, point.lat.deg
    x1, y1, x2, y2 = xs, ys, np.roll(xs, -1), np.roll(ys, -1)
    crossings = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / np.where(y2 == y1, np.inf, y2 - y1) + x1)
    if np.count_nonzero(crossings) % 2:
        return True
    dx, dy = x2 - x1, y2 - y1
    along = np.clip(((x - x1) * dx + (y - y1) * dy) / np.maximum(dx * dx + dy * dy, 1e-30), 0, 1)
    return bool(np.min(np.hypot(x1 + along * dx - x, y1 + along * dy - y)) <= query.radius_deg)


def _shown(columns, query):
    return [column for column in columns if column.verbosity <= query.verbosity]


def _votable(name, description, columns, rows, truncated):
    document = VOTableFile()
    resource = Resource(type="results")
    document.resources.append(resource)
    table = TableElement(document, name=name)
    table.description = description
    resource.tables.append(table)
    table.fields.extend(
        Field(
            document,
            name=column.name,
            ID=column.name,
            datatype=column.datatype,
            ucd=column.ucd,
            unit=column.unit,
            arraysize=column.arraysize,
        )  # fmt: skip
        for column in columns
    )
    for column, field in zip(columns, table.fields):
        field.description = column.description
    table.create_arrays(len(rows))
    for index, row in enumerate(rows):
        table.array[index] = tuple(_cell(row.get(column.name), column) for column in columns)
        for column in columns:
            if row.get(column.name) is None:
                table.array.mask[index][column.name] = True
    if truncated:
        overflow = Info(name="QUERY_STATUS", value="OVERFLOW")
        overflow.content = f"more than {len(rows)} rows reached; the nearest are listed"
        resource.infos.append(overflow)
    return _bytes(document)


def _cell(value, column):
    if value is None:
        return "" if column.datatype == "char" else 0
    return value


def error_votable(message):
    """The VOTable an SCS client reads as a refusal, ``message`` its reason."""
    document = VOTableFile()
    resource = Resource(type="results")
    resource.infos.append(Info(name="Error", value=message))
    document.resources.append(resource)
    return _bytes(document)


def _bytes(document):
    out = io.BytesIO()
    document.to_xml(out)
    return out.getvalue()
