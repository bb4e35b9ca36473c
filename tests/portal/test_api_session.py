"""The API in a signed-in browser: the browsable API and the docs' "Try it out" act as the user,
in the observatory whose pages they opened, with the CSRF token for changes; the docs pages are
the portal's own files."""

from django.test import Client

from observations.models import Target
from portal.models import Membership, Role
from portal.tenancy import tenant_context


def signed_in(user, tenant=None, *, enforce_csrf_checks=False):
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    if tenant is not None:
        assert client.get(f"/t/{tenant.slug}/api-keys/").status_code in (200, 403)  # the session now works in it
    return client


def test_a_signed_in_user_reads_the_api_of_the_observatory_they_opened_and_no_other(tenant_factory):
    north, users = tenant_factory(members=[("admin", Role.ADMIN)])
    south, _ = tenant_factory()
    for tenant, name in ((north, "NGC 1"), (south, "NGC 2")):
        with tenant_context(tenant):
            Target.objects.create(tenant=tenant, name=name, ra_deg=10, dec_deg=20)
    client = signed_in(users["admin"], north)
    listed = client.get("/api/v1/targets/", HTTP_ACCEPT="application/json")
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()["results"]] == ["NGC 1"]
    assert client.get("/api/v1/whoami/", HTTP_ACCEPT="application/json").json()["tenant"]["slug"] == north.slug
    browsable = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and b"/api/v1/targets/" in browsable.content


def test_a_change_from_the_session_needs_the_csrf_token_and_the_role(tenant_factory):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), ("volunteer", Role.VOLUNTEER)])
    payload = {"name": "M101", "position": "14h03m12.6s +54d20m57s"}
    no_token = signed_in(users["admin"], tenant, enforce_csrf_checks=True)
    refused = no_token.post("/api/v1/targets/", payload, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = no_token.cookies["csrftoken"].value
    created = no_token.post("/api/v1/targets/", payload, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    volunteer = signed_in(users["volunteer"], tenant)
    denied = volunteer.post("/api/v1/targets/", {**payload, "name": "M102"}, content_type="application/json")
    assert denied.status_code == 403 and "volunteer" in denied.json()["detail"]
    with tenant_context(tenant):
        assert list(Target.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["M101"]


def test_a_member_of_several_observatories_is_told_to_open_one_first(tenant_factory):
    north, users = tenant_factory(members=[("admin", Role.ADMIN)])
    south, _ = tenant_factory()
    with tenant_context(south):
        Membership.objects.create(tenant=south, user=users["admin"], role=Role.ASTRONOMER)
    answer = signed_in(users["admin"]).get("/api/v1/targets/", HTTP_ACCEPT="application/json")
    assert answer.status_code in (401, 403) and "open one of your observatories" in answer.json()["detail"]
    assert signed_in(users["admin"], south).get("/api/v1/whoami/").json()["role"] == Role.ASTRONOMER


def test_the_docs_are_served_from_the_portal_to_signed_in_users(tenant_factory, client):
    tenant, users = tenant_factory()
    for page in ("/api/v1/docs/", "/api/v1/redoc/"):
        assert client.get(page).url.startswith("/accounts/login/")
    member = signed_in(users["admin"], tenant)
    keys_page = member.get(f"/t/{tenant.slug}/api-keys/").content.decode()
    assert 'href="/api/v1/docs/"' in keys_page and 'href="/api/v1/redoc/"' in keys_page
    for page, bundle in (("/api/v1/docs/", "swagger-ui-bundle.js"), ("/api/v1/redoc/", "redoc.standalone.js")):
        html = member.get(page).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html and bundle in html and "cdn." not in html, page
    schema = member.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/targets/" in schema.json()["paths"]


def test_a_key_decides_even_in_a_signed_in_browser(tenant_factory):
    from portal.models import ApiKey

    north, users = tenant_factory()
    south, south_users = tenant_factory()
    with tenant_context(south):
        _, plain = ApiKey.issue(tenant=south, created_by=south_users["admin"], name="k")
    client = signed_in(users["admin"], north)
    assert client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {plain}").json()["tenant"]["slug"] == south.slug
