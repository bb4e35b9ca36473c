"""The partner API: API keys decide the tenant and what may be changed; errors are problem+json."""

import pytest
from rest_framework.test import APIClient

from portal.models import ApiKey, Site
from portal.tenancy import tenant_context


def _issue(tenant, user, scope="read"):
    with tenant_context(tenant):
        return ApiKey.issue(tenant=tenant, created_by=user, name="pipeline", scope=scope)


def _client(plain):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


NEW_SITE = {
    "code": "lsc",
    "name": "Cerro Tololo",
    "latitude_deg": -30.1675,
    "longitude_deg": -70.8048,
    "height_m": 2198,
    "time_zone": "America/Santiago",
    "horizon_limit_deg": 15,
}


def test_valid_key_lists_only_its_own_tenants_sites(tenant_factory):
    tenant, users = tenant_factory(sites=["alpha", "beta"])
    tenant_factory(sites=["gamma"])
    _, plain = _issue(tenant, users["admin"])
    response = _client(plain).get("/api/v1/sites/")
    assert response.status_code == 200
    assert sorted(site["code"] for site in response.json()["results"]) == ["alpha", "beta"]


def test_whoami_names_the_keys_tenant_and_scope(tenant_factory):
    tenant, users = tenant_factory()
    _, plain = _issue(tenant, users["admin"], scope="write")
    body = _client(plain).get("/api/v1/whoami/").json()
    assert body["tenant"]["slug"] == tenant.slug and body["scope"] == "write"


def test_revoked_key_is_refused(tenant_factory):
    tenant, users = tenant_factory()
    key, plain = _issue(tenant, users["admin"])
    with tenant_context(tenant):
        key.revoke()
    response = _client(plain).get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Api-Key ask_deadbeef_notthesecret", "Api-Key ask_short_x", "Api-Key something-else", "Bearer ask_00000000_x"],
)
def test_forged_keys_are_refused(tenant_factory, header):
    tenant, users = tenant_factory()
    key, _ = _issue(tenant, users["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.replace("deadbeef", key.prefix))
    response = client.get("/api/v1/sites/")
    assert response.status_code == 401 and response.json()["status"] == 401


def test_request_without_key_is_refused(db):
    response = APIClient().get("/api/v1/sites/")
    assert response.status_code == 401


def test_key_of_one_tenant_cannot_see_or_change_another_tenants_site(tenant_factory):
    tenant_a, users_a = tenant_factory()
    tenant_b, _ = tenant_factory(sites=["hidden"])
    with tenant_context(tenant_b):
        hidden = Site.objects.get(code="hidden")
    _, plain = _issue(tenant_a, users_a["admin"], scope="write")
    client = _client(plain)
    assert client.get(f"/api/v1/sites/{hidden.pk}/").status_code == 404
    assert client.patch(f"/api/v1/sites/{hidden.pk}/", {"name": "pwned"}, format="json").status_code == 404
    with tenant_context(tenant_b):
        assert Site.objects.get(pk=hidden.pk).name != "pwned"


def test_read_only_key_cannot_write(tenant_factory):
    tenant, users = tenant_factory()
    _, plain = _issue(tenant, users["admin"], scope="read")
    response = _client(plain).post("/api/v1/sites/", NEW_SITE, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    with tenant_context(tenant):
        assert not Site.objects.filter(code="lsc").exists()


def test_write_key_creates_a_site_in_its_tenant(tenant_factory):
    tenant, users = tenant_factory()
    _, plain = _issue(tenant, users["admin"], scope="write")
    response = _client(plain).post("/api/v1/sites/", NEW_SITE, format="json")
    assert response.status_code == 201, response.content
    with tenant_context(tenant):
        site = Site.objects.get(code="lsc")
    assert site.tenant_id == tenant.pk
    assert site.earth_location.lat.deg == pytest.approx(-30.1675)


@pytest.mark.parametrize(
    "change, field",
    [({"latitude_deg": 123}, "latitude_deg"), ({"time_zone": "Moon/Tycho"}, "time_zone"), ({"code": "site"}, "code")],
)
def test_invalid_site_is_refused_naming_the_field_and_nothing_is_saved(tenant_factory, change, field):
    tenant, users = tenant_factory(sites=["site"])
    _, plain = _issue(tenant, users["admin"], scope="write")
    response = _client(plain).post("/api/v1/sites/", {**NEW_SITE, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in body["errors"] or field in body["detail"]
    with tenant_context(tenant):
        assert Site.objects.count() == 1


def test_telescope_cannot_be_attached_to_another_tenants_site(tenant_factory):
    tenant_a, users_a = tenant_factory()
    tenant_b, _ = tenant_factory(sites=["theirs"])
    with tenant_context(tenant_b):
        their_site = Site.objects.get()
    _, plain = _issue(tenant_a, users_a["admin"], scope="write")
    response = _client(plain).post(
        "/api/v1/telescopes/",
        {
            "site": their_site.pk,
            "code": "1m",
            "name": "x",
            "aperture_m": 1,
            "field_of_view_arcmin": 20,
            "pixel_scale_arcsec": 0.4,
        },
        format="json",
    )
    assert response.status_code == 400 and "site" in response.json()["errors"]


def test_api_key_page_shows_a_new_key_once_and_it_works(client, tenant_factory):
    tenant, users = tenant_factory(members=[("partner", "partner")])
    client.force_login(users["partner"])
    page = client.post(f"/t/{tenant.slug}/api-keys/", {"name": "nightly sync", "scope": "write"})
    plain = page.context["new_key"]
    assert plain.startswith("ask_") and plain in page.text
    assert plain not in client.get(f"/t/{tenant.slug}/api-keys/").text
    assert _client(plain).get("/api/v1/whoami/").json()["key"] == "nightly sync"
    with tenant_context(tenant):
        key = ApiKey.objects.get()
    client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/revoke/")
    assert _client(plain).get("/api/v1/whoami/").status_code == 401


def test_volunteer_cannot_issue_api_keys(client, tenant_factory):
    tenant, users = tenant_factory(members=[("vol", "volunteer")])
    client.force_login(users["vol"])
    assert client.post(f"/t/{tenant.slug}/api-keys/", {"name": "x", "scope": "read"}).status_code == 403
