"""Cone search agrees with astropy's SkyCoord.separation everywhere, edges included."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from observations.models import Target
from observations.services import cone_search
from observations.sky import healpix_index
from portal.tenancy import tenant_context
from tests.conftest import make_tenant

# Centres on the RA = 0/360 seam, at both poles, and ordinary places.
CENTRES = [
    (0.0, 0.0),
    (359.99, 10.0),
    (0.01, -45.0),
    (180.0, 89.95),
    (33.0, -89.99),
    (120.0, 30.0),
    (250.5, -12.3),
    (183.2349, -68.4790),
]  # the last: astropy-healpix's bare cover misses a pixel of this 1° cone
RADII = [1 * u.arcmin, 10 * u.arcmin, 1 * u.deg, 5 * u.deg]


def _catalogue(tenant, rng, n_per_centre=400):
    """Points scattered around each centre out to twice the largest radius, plus uniform sky."""
    ras, decs = [], []
    for ra, dec in CENTRES:
        centre = SkyCoord(ra * u.deg, dec * u.deg)
        offsets = centre.directional_offset_by(
            rng.uniform(0, 360, n_per_centre) * u.deg, (10 ** rng.uniform(-2.5, 1, n_per_centre)) * u.deg
        )
        ras.extend(offsets.ra.deg)
        decs.extend(offsets.dec.deg)
    uniform_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    ras.extend(rng.uniform(0, 360, 2000))
    decs.extend(uniform_dec)
    ras, decs = np.mod(np.array(ras), 360), np.array(decs)
    pixels = healpix_index(ras, decs)
    Target.objects.bulk_create(
        Target(tenant=tenant, name=f"T{i}", ra_deg=ra, dec_deg=dec, healpix=int(pixel))
        for i, (ra, dec, pixel) in enumerate(zip(ras, decs, pixels))
    )
    return SkyCoord(ras * u.deg, decs * u.deg)


@pytest.fixture(scope="module")
def catalogue(django_db_blocker):
    """Made once for the module and committed: every parametrised case searches the same sky."""
    with django_db_blocker.unblock():
        tenant, _ = make_tenant(sites=[])
        with tenant_context(tenant):
            coordinates = _catalogue(tenant, np.random.default_rng(42))
    return tenant, coordinates


@pytest.mark.parametrize("radius", RADII, ids=str)
@pytest.mark.parametrize(
    "centre",
    CENTRES
    + [
        (float(ra), float(dec))
        for ra, dec in zip(
            np.random.default_rng(7).uniform(0, 360, 5),
            np.degrees(np.arcsin(np.random.default_rng(8).uniform(-1, 1, 5))),
        )
    ],
    ids=lambda c: f"{c[0]:.2f},{c[1]:.2f}",
)
def test_cone_search_returns_exactly_what_astropy_says_is_inside(catalogue, committed, centre, radius):
    tenant, coordinates = catalogue
    position = SkyCoord(centre[0] * u.deg, centre[1] * u.deg)
    expected = {f"T{i}" for i in np.flatnonzero(coordinates.separation(position) <= radius)}
    with tenant_context(tenant):
        found = cone_search(tenant, position, radius, limit=None)
    assert {t.name for t in found} == expected
    separations = [t.separation_deg for t in found]
    assert separations == sorted(separations)
    for target in found[:20]:
        exact = SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg).separation(position).deg
        assert target.separation_deg == pytest.approx(exact, abs=1e-9)


def test_cone_search_sees_public_targets_of_other_tenants_but_not_their_private_ones(tenant_factory):
    from observations.services import visible_targets

    mine, users = tenant_factory(sites=[])
    theirs, _ = tenant_factory(sites=[])
    with tenant_context(theirs):
        for name, visibility in [("their-public", "public"), ("their-tenant", "tenant")]:
            Target.objects.create(tenant=theirs, name=name, ra_deg=10, dec_deg=10, visibility=visibility)
    with tenant_context(mine):
        Target.objects.create(
            tenant=mine, name="my-private", ra_deg=10, dec_deg=10.001, visibility="private", created_by=users["admin"]
        )
        centre = SkyCoord(10 * u.deg, 10 * u.deg)
        found = cone_search(mine, centre, 1 * u.arcmin, user=users["admin"])
        assert {t.name for t in found} == {"their-public", "my-private"}
        assert {t.name for t in visible_targets(mine, users["admin"])} == {"their-public", "my-private"}
        assert {t.name for t in cone_search(mine, centre, 1 * u.arcmin)} == {"their-public"}
        assert {t.name for t in visible_targets(mine, None)} == {"their-public"}
        colleagues = cone_search(mine, centre, 1 * u.arcmin, include_all_private=True, include_public=False)
        assert {t.name for t in colleagues} == {"my-private"}, "ingest links colleagues' private targets too"


def test_cone_search_narrows_by_kind_and_name_and_stops_at_the_limit(tenant_factory):
    tenant, _ = tenant_factory(sites=[])
    with tenant_context(tenant):
        for i in range(12):
            Target.objects.create(tenant=tenant, name=f"NGC {100 + i}", aliases=[f"UGC {i}"], ra_deg=50,
                                  dec_deg=20 + i / 3600, kind="galaxy" if i % 2 else "star")  # fmt: skip
        centre = SkyCoord(50 * u.deg, 20 * u.deg)
        nearest = cone_search(tenant, centre, 1 * u.arcmin, limit=5)
        assert [t.name for t in nearest] == [f"NGC {100 + i}" for i in range(5)] and nearest.truncated
        assert not cone_search(tenant, centre, 1 * u.arcmin).truncated
        assert {t.name for t in cone_search(tenant, centre, 1 * u.arcmin, kind="star", name="ngc 10")} == {
            "NGC 100", "NGC 102", "NGC 104", "NGC 106", "NGC 108"
        }  # fmt: skip
        assert [t.name for t in cone_search(tenant, centre, 1 * u.arcmin, name="UGC 3")] == ["NGC 103"]
