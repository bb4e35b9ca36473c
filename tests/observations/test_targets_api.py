"""Targets through the partner API: any astropy position form, duplicates, cone search, errors."""

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from observations.models import Target
from portal.tenancy import tenant_context
from tests.conftest import api_client


@pytest.fixture
def api(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    client = api_client(tenant, users["admin"])
    client.tenant = tenant
    return client


@pytest.mark.parametrize(
    "payload",
    [
        {"position": "10h08m22.3s +12d34m"},
        {"position": "10:08:22.3 +12:34:00"},
        {"position": "152.0929 12.5667"},
        {"ra_deg": 152.0929, "dec_deg": 12.5667},
    ],
)
def test_target_is_created_from_any_usual_position_form(api, payload):
    response = api.post("/api/v1/targets/", {"name": "Regulus field", "kind": "star", **payload}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ra_deg"] == pytest.approx(152.0929, abs=1e-3) and body["dec_deg"] == pytest.approx(12.5667, abs=1e-3)
    assert body["ra_hms"].startswith("10h08m22") and body["dec_dms"].startswith("+12d34m")


def test_galactic_position_is_stored_in_icrs(api):
    response = api.post("/api/v1/targets/", {"name": "GC", "position": "0 0", "frame": "galactic"}, format="json")
    expected = SkyCoord(0 * u.deg, 0 * u.deg, frame="galactic").icrs
    assert response.json()["ra_deg"] == pytest.approx(expected.ra.deg, abs=1e-6)
    assert response.json()["dec_deg"] == pytest.approx(expected.dec.deg, abs=1e-6)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"ra_deg": 10, "dec_deg": 95}, "dec_deg"),
        ({"ra_deg": 400, "dec_deg": 5}, "ra_deg"),
        ({"position": "here and there"}, "position"),
        ({"position": "10"}, "position"),
        ({"ra_deg": 10}, "position"),
        ({"position": "1 2", "frame": "mars"}, "frame"),
    ],
)
def test_bad_coordinates_are_refused_naming_the_field(api, payload, field):
    response = api.post("/api/v1/targets/", {"name": "Bad", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    with tenant_context(api.tenant):
        assert not Target.objects.exists()


def test_duplicates_by_name_and_by_position(api):
    assert (
        api.post("/api/v1/targets/", {"name": "M51", "position": "202.4696 47.1952"}, format="json").status_code == 201
    )
    same_name = api.post("/api/v1/targets/", {"name": "m51", "position": "10 10"}, format="json")
    assert same_name.status_code == 400 and "already exists" in same_name.json()["errors"]["name"][0]
    near = api.post("/api/v1/targets/", {"name": "Whirlpool", "position": "202.4697 47.1953"}, format="json")
    assert near.status_code == 400 and "M51" in near.json()["errors"]["position"][0]
    forced = api.post(
        "/api/v1/targets/",
        {"name": "Whirlpool", "position": "202.4697 47.1953", "allow_duplicate": True},
        format="json",
    )
    assert forced.status_code == 201


def test_cone_search_lists_nearest_first_with_separations(api):
    for name, ra, dec in [("A", 150.0, 2.0), ("B", 150.01, 2.0), ("C", 150.2, 2.0), ("far", 10.0, -40.0)]:
        api.post("/api/v1/targets/", {"name": name, "ra_deg": ra, "dec_deg": dec}, format="json")
    body = api.get("/api/v1/targets/", {"ra": 150.0, "dec": 2.0, "radius": "15arcmin"}).json()
    assert [t["name"] for t in body["results"]] == ["A", "B", "C"]
    assert body["results"][1]["separation_arcsec"] == pytest.approx(0.01 * 3600 * 0.99939, rel=1e-3)
    by_text = api.get("/api/v1/targets/", {"position": "10h00m00s +02d00m00s", "radius": "1"}).json()
    assert [t["name"] for t in by_text["results"]] == ["A", "B"]
    bad = api.get("/api/v1/targets/", {"ra": 150.0, "dec": 2.0, "radius": "-3"})
    assert bad.status_code == 400 and "radius" in bad.json()["errors"]


def test_name_search_and_other_tenants_private_targets_stay_hidden(api, tenant_factory):
    other, _ = tenant_factory(sites=[])
    with tenant_context(other):
        Target.objects.create(tenant=other, name="NGC 1300", ra_deg=49.92, dec_deg=-19.41, visibility="tenant")
        Target.objects.create(tenant=other, name="NGC 1365", ra_deg=53.40, dec_deg=-36.14, visibility="public")
    api.post("/api/v1/targets/", {"name": "NGC 1399", "ra_deg": 54.62, "dec_deg": -35.45}, format="json")
    names = [t["name"] for t in api.get("/api/v1/targets/", {"q": "ngc"}).json()["results"]]
    assert names == ["NGC 1365", "NGC 1399"]
    with tenant_context(api.tenant):
        public = Target.objects.get(name="NGC 1365")
    assert api.patch(f"/api/v1/targets/{public.pk}/", {"name": "mine now"}, format="json").status_code == 404


def test_patch_renames_and_moves_a_target_refusing_a_taken_name(api):
    created = api.post("/api/v1/targets/", {"name": "SN 2026abc", "position": "150.0 2.0"}, format="json").json()
    api.post("/api/v1/targets/", {"name": "AT 2026xyz", "position": "10.0 -40.0"}, format="json")
    moved = api.patch(f"/api/v1/targets/{created['id']}/", {"position": "150.001 2.0005", "aliases": ["ZTF26aaaa"]},
                      format="json")  # fmt: skip
    assert moved.status_code == 200 and moved.json()["aliases"] == ["ZTF26aaaa"]
    found = api.get("/api/v1/targets/", {"ra": 150.001, "dec": 2.0005, "radius": "1arcsec"}).json()["results"]
    assert [t["name"] for t in found] == ["SN 2026abc"], "the HEALPix index follows the new position"
    taken = api.patch(f"/api/v1/targets/{created['id']}/", {"name": "at 2026XYZ"}, format="json")
    assert taken.status_code == 400 and "already goes by" in taken.json()["errors"]["name"][0]
