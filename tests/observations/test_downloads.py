"""Issue 21: target lists, light curves and alert lists download as VOTable and CSV from the
pages and the API — every matching row, not one page — and astropy (as TOPCAT would) reads
them back with their units."""

import io

import pytest
from astropy import units as u
from astropy.io import ascii as astropy_ascii
from astropy.io.votable import parse_single_table
from rest_framework.test import APIClient

from alerts.synthetic import make_alert
from observations.models import Target
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.alerts.test_ingest import as_json
from tests.observations.conftest import M51
from tests.observations.test_photometry import ingest


def _api(tenant, user):
    with tenant_context(tenant):
        _, plain = ApiKey.issue(tenant=tenant, created_by=user, name="topcat", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def _votable(response):
    assert response["Content-Type"] == "application/x-votable+xml", response.content[:300]
    return parse_single_table(io.BytesIO(response.content)).to_table()


def _csv(response):
    assert response["Content-Type"].startswith("text/csv")
    return astropy_ascii.read(response.content.decode(), format="csv")


def test_a_search_downloads_every_target_it_found_not_one_page(observatory):
    tenant, user = observatory
    with tenant_context(tenant):
        for index in range(30):
            Target.objects.create(tenant=tenant, name=f"Field star {index:02d}", ra_deg=M51[0] + index * 1e-3,
                                  dec_deg=M51[1], tags=["field", "comparison"])  # fmt: skip
    api = _api(tenant, user)
    assert len(api.get("/api/v1/targets/?limit=5&q=Field").json()["results"]) == 5
    response = api.get("/api/v1/targets/?limit=5&q=Field&download=votable")
    assert response["Content-Disposition"] == 'attachment; filename="targets.vot"'
    table = _votable(response)
    assert len(table) == 30 and set(table["name"]) == {f"Field star {index:02d}" for index in range(30)}
    assert table["ra_deg"].unit == u.deg and table["tags"][0] == "field; comparison"
    field = parse_single_table(io.BytesIO(response.content)).get_field_by_id("ra_deg")
    assert field.ucd == "pos.eq.ra;meta.main"

    cone = _csv(api.get(f"/api/v1/targets/?ra={M51[0]}&dec={M51[1]}&radius=10arcsec&download=csv"))
    assert list(cone["name"][:2]) == ["M51", "Field star 00"] and "separation_arcsec" in cone.colnames
    assert list(cone["separation_arcsec"]) == sorted(cone["separation_arcsec"]) and cone["separation_arcsec"][0] < 1e-6


def test_the_target_list_page_links_its_downloads_with_the_search_kept(client, observatory):
    tenant, user = observatory
    client.force_login(user)
    page = client.get(f"/t/{tenant.slug}/targets/?q=M5")
    assert 'href="?q=M5&amp;download=csv"' in page.text
    table = _csv(client.get(f"/t/{tenant.slug}/targets/?q=M5&download=csv"))
    assert list(table["name"]) == ["M51"] and table["observatory"][0] == tenant.slug


def test_a_light_curve_downloads_from_the_target_page_and_the_api_with_its_units(client, observatory):
    tenant, user = observatory
    for seed, peak in enumerate([3000, 6000, 4000], start=10):
        ingest(tenant, user, seed, peak, zero_point=25.0, obs_time=f"2026-03-{seed:02d}T22:00:00")
    with tenant_context(tenant):
        m51 = Target.objects.get(name="M51")
    client.force_login(user)
    page = client.get(f"/t/{tenant.slug}/targets/{m51.pk}/")
    assert f"/targets/{m51.pk}/light-curve/?download=votable" in page.text
    table = _votable(client.get(f"/t/{tenant.slug}/targets/{m51.pk}/light-curve/?download=votable"))
    assert len(table) == 3 and list(table["mjd"]) == sorted(table["mjd"])
    assert table["mag"].unit == u.mag and table["mjd"].unit == u.day and set(table["filter"]) == {"r"}
    assert table["mag"][1] < table["mag"][2] < table["mag"][0], "the brightest frame has the smallest magnitude"

    api = _api(tenant, user)
    points = api.get(f"/api/v1/targets/{m51.pk}/light-curve/").json()
    assert [point["mag"] for point in points] == pytest.approx(list(table["mag"]))
    assert points[0]["site"] == "tfn" and points[0]["frame"] > 0
    csv = _csv(api.get(f"/api/v1/targets/{m51.pk}/light-curve/?download=csv"))
    assert list(csv["mag"]) == pytest.approx(list(table["mag"]))


def test_an_alert_list_downloads_from_the_api_and_the_dashboard(client, observatory):
    tenant, user = observatory
    api = _api(tenant, user)
    packets = [as_json(make_alert(seed, "sn_ia", ra_deg=M51[0] + seed * 1e-5, dec_deg=M51[1]).packet)
               for seed in range(3)]  # fmt: skip
    assert api.post("/api/v1/alerts/", packets, format="json").status_code == 201
    table = _votable(api.get("/api/v1/alerts/?limit=1&download=votable"))
    assert len(table) == 3 and set(table["target"]) == {"M51"} and table["magnitude"].unit == u.mag
    assert list(table["id"]) == sorted(table["id"], reverse=True), "newest first, as the list"
    one = _csv(api.get(f"/api/v1/alerts/?object={table['object_id'][0]}&download=csv"))
    assert list(one["id"]) == [table["id"][0]]

    client.force_login(user)
    dashboard = client.get(f"/t/{tenant.slug}/alerts/")
    assert 'id="alert-downloads"' in dashboard.text
    # The dashboard's file holds the alerts published to the feed (none yet: no worker runs here).
    assert len(_csv(client.get(f"/t/{tenant.slug}/alerts/download/?download=csv"))) == 0


@pytest.mark.parametrize("path", ["/api/v1/targets/?download=xlsx", "/api/v1/alerts/?download=fits"])
def test_an_unknown_download_format_is_refused_naming_the_ones_there_are(observatory, path):
    tenant, user = observatory
    refused = _api(tenant, user).get(path)
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["errors"] == {"download": f"one of votable, csv is required, got {path.split('=')[1]!r}"}


def test_another_observatorys_light_curve_is_not_there(observatory, tenant_factory, client):
    tenant, user = observatory
    stranger, strangers = tenant_factory(sites=[])
    with tenant_context(tenant):
        m51 = Target.objects.get(name="M51")
    assert _api(stranger, strangers["admin"]).get(f"/api/v1/targets/{m51.pk}/light-curve/").status_code == 404
    client.force_login(strangers["admin"])
    page = client.get(f"/t/{stranger.slug}/targets/{m51.pk}/light-curve/?download=csv")
    assert page.status_code == 404
    bad = client.get(f"/t/{stranger.slug}/targets/?download=pdf")
    assert bad.status_code == 400 and "download: one of votable, csv is required" in bad.text
