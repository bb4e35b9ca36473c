"""The demo observatories a first run shows: real sites on three continents, with telescopes.

Loading is idempotent (keyed on slugs, codes and usernames), so every start of the
launcher can call it and an edited demo row is put back as it was. Members are added and
their roles put back through the membership services, so the audit log shows them, by the
``load_demo`` command.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from alerts.demo import load_demo_alerts
from labeling.demo import load_demo_project
from mlmodels.demo import load_demo_galaxy_images, load_demo_models
from observations.demo import load_demo_calibration, load_demo_frames, load_demo_fusion, load_demo_targets
from scheduling.demo import load_demo_semester

from . import audit, services
from .models import Filter, HeaderRule, Instrument, Membership, Role, Site, Telescope, Tenant, Where
from .tenancy import tenant_context

SDSS = [("g", 477, 137), ("r", 623, 138), ("i", 763, 153), ("z", 913, 95)]
JOHNSON = [("B", 445, 94), ("V", 551, 88), ("R", 658, 138)]
LOADER = audit.Origin(Where.COMMAND)  # in the audit log: the load_demo command, on nobody's behalf

TENANTS = [
    {
        "slug": "demo",
        "name": "Arrayscope Demo Network",
        "description": "A network of robotic telescopes on three continents, following galaxies and transients.",
        "targets": True,
        "members": {
            "demo-admin": Role.ADMIN,
            "demo-astronomer": Role.ASTRONOMER,
            "demo-volunteer": Role.VOLUNTEER,
            "demo-partner": Role.PARTNER,
        },
        "sites": [
            {
                "code": "tfn",
                "name": "Teide Observatory",
                "latitude_deg": 28.3003,
                "longitude_deg": -16.5117,
                "height_m": 2390,
                "time_zone": "Atlantic/Canary",
                "horizon_limit_deg": 15,
                "telescopes": [
                    ("1m0a", "Teide 1.0 m", 1.0, 26.5, 0.389, "sinistro", SDSS),
                    ("0m4a", "Teide 0.4 m", 0.4, 29.2, 0.571, "qhy600", JOHNSON),
                ],
            },
            {
                "code": "coj",
                "name": "Siding Spring Observatory",
                "latitude_deg": -31.2733,
                "longitude_deg": 149.0711,
                "height_m": 1116,
                "time_zone": "Australia/Sydney",
                "horizon_limit_deg": 15,
                "telescopes": [("2m0a", "Siding Spring 2.0 m", 2.0, 10.5, 0.304, "spectral", SDSS)],
                # Its control software writes its own names (as LCO's does); the rules map them.
                "header_rules": [
                    ("TELESCOP", "FTS", "2m0a"),
                    ("INSTRUME", "fs*", "spectral"),
                    ("FILTER", "gp", "g"),
                    ("FILTER", "rp", "r"),
                    ("FILTER", "ip", "i"),
                ],
            },
            {
                "code": "elp",
                "name": "McDonald Observatory",
                "latitude_deg": 30.6797,
                "longitude_deg": -104.0248,
                "height_m": 2070,
                "time_zone": "America/Chicago",
                "horizon_limit_deg": 20,
                "telescopes": [("1m0a", "McDonald 1.0 m", 1.0, 26.5, 0.389, "sinistro", SDSS)],
            },
        ],
    },
    {
        "slug": "southern",
        "name": "Southern Sky Consortium",
        "description": "A collaboration sharing one telescope in the Karoo.",
        "members": {"demo-admin": Role.ADMIN, "southern-astronomer": Role.ASTRONOMER},
        "sites": [
            {
                "code": "cpt",
                "name": "Sutherland",
                "latitude_deg": -32.3806,
                "longitude_deg": 20.8102,
                "height_m": 1798,
                "time_zone": "Africa/Johannesburg",
                "horizon_limit_deg": 15,
                "telescopes": [("1m0a", "Sutherland 1.0 m", 1.0, 26.5, 0.389, "sinistro", SDSS)],
            },
        ],
    },
]


@transaction.atomic
def load_demo(password):
    users = {}
    for username in {name for spec in TENANTS for name in spec["members"]}:
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.save()
        users[username] = user
    tenants = []
    for spec in TENANTS:
        tenant, _ = Tenant.objects.update_or_create(
            slug=spec["slug"], defaults={"name": spec["name"], "description": spec["description"]}
        )
        with tenant_context(tenant):
            for username, role in spec["members"].items():
                load_member(tenant, users[username], role)
            for site_spec in spec["sites"]:
                load_site(tenant, dict(site_spec))
            if spec.get("targets"):
                admin = users[next(iter(spec["members"]))]
                load_demo_targets(tenant, admin)
                load_demo_frames(tenant, admin)
                load_demo_fusion(tenant, users["demo-astronomer"])
                load_demo_calibration(tenant, users["demo-astronomer"])
                load_demo_galaxy_images(tenant)
                load_demo_models(tenant, admin)
                load_demo_alerts(tenant, users["demo-astronomer"])
                load_demo_project(tenant, users["demo-astronomer"])
                load_demo_semester(tenant, users["demo-astronomer"], admin)
        tenants.append(tenant)
    return tenants


def load_member(tenant, user, role):
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is None:
        services.add_member(tenant, username=user.username, role=role, origin=LOADER)
    else:
        services.change_role(membership, role, LOADER)


def load_site(tenant, spec):
    telescopes = spec.pop("telescopes")
    header_rules = spec.pop("header_rules", [])
    site, _ = Site.objects.update_or_create(tenant=tenant, code=spec.pop("code"), defaults=spec)
    for code, name, aperture, fov, scale, instrument_code, filters in telescopes:
        telescope, _ = Telescope.objects.update_or_create(
            tenant=tenant,
            site=site,
            code=code,
            defaults={"name": name, "aperture_m": aperture, "field_of_view_arcmin": fov, "pixel_scale_arcsec": scale},
        )
        instrument, _ = Instrument.objects.update_or_create(
            tenant=tenant,
            telescope=telescope,
            code=instrument_code,
            defaults={"name": instrument_code.capitalize(), "kind": Instrument.Kind.IMAGER},
        )
        for filter_name, wavelength, width in filters:
            Filter.objects.update_or_create(
                tenant=tenant,
                instrument=instrument,
                name=filter_name,
                defaults={
                    "system": "SDSS" if filters is SDSS else "Johnson",
                    "central_wavelength_nm": wavelength,
                    "bandwidth_nm": width,
                },
            )
    for keyword, pattern, meaning in header_rules:
        maps_to = {
            "TELESCOP": {"telescope": Telescope.objects.filter(site=site, code=meaning).first()},
            "INSTRUME": {"instrument": Instrument.objects.filter(telescope__site=site, code=meaning).first()},
            "FILTER": {"filter_name": meaning},
        }[keyword]
        HeaderRule.objects.update_or_create(
            tenant=tenant, site=site, keyword=keyword, pattern=pattern, defaults=maps_to
        )
