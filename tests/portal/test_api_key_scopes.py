"""Issue 21, point 3: a key's scopes per part of the API, a rate a tenant admin sets per key on
top of the portal's, and each key's use (calls a day, errors, refusals) on the keys page."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from portal import api_usage
from portal.models import ApiKey, AuditEntry
from portal.tenancy import tenant_context

TARGET = {"name": "NGC 5194", "ra_deg": 202.4696, "dec_deg": 47.1952}


def _client(plain):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def _issue_on_page(client, tenant, **fields):
    return client.post(f"/t/{tenant.slug}/api-keys/", {"name": "relay", "scope": "read", **fields})


def test_a_key_scoped_to_one_part_reads_there_and_nowhere_else(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin")])
    client.force_login(users["admin"])
    page = _issue_on_page(client, tenant, scope="none", scope_observations="read", scope_alerts="write")
    key = _client(page.context["new_key"])
    me = key.get("/api/v1/whoami/").json()
    assert me["scopes"] == "read and write in alerts, read only in observations, no access elsewhere"
    assert key.get("/api/v1/targets/").status_code == 200
    refused = key.get("/api/v1/sites/")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["detail"].startswith("This API key has no access to facilities (portal); its scopes:")
    read_only = key.post("/api/v1/targets/", TARGET, format="json")
    assert (
        read_only.status_code == 403
        and "read-only in targets, frames, cutouts and cone searches" in (read_only.json()["detail"])
    )
    assert key.post("/api/v1/alert-filters/", {"name": "bright", "conditions": {}}, format="json").status_code == 201
    with tenant_context(tenant):
        assert not ApiKey.objects.get().app_scopes.get("portal")


def test_the_key_form_refuses_a_key_that_could_do_nothing_and_writes_a_role_may_not_grant(client, tenant_factory):
    tenant, users = tenant_factory(members=[("astro", "astronomer")])
    client.force_login(users["astro"])
    useless = _issue_on_page(client, tenant, scope="none")
    assert "could use no part of the API" in useless.text and useless.context["new_key"] is None
    writing = _issue_on_page(client, tenant, scope_alerts="write")
    assert "Only admins and partners can issue keys that write" in writing.text
    with tenant_context(tenant):
        assert not ApiKey.objects.exists()


@override_settings(API_RATE_PER_KEY="1000/min")
def test_an_admin_limits_one_key_and_sees_its_calls_errors_and_refusals(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin"), ("astro", "astronomer")])
    client.force_login(users["admin"])
    plain = _issue_on_page(client, tenant, scope="write").context["new_key"]
    other = _issue_on_page(client, tenant, name="other").context["new_key"]
    with tenant_context(tenant):
        key = ApiKey.objects.get(name="relay")
    limited = client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/rate/", {"rate": "4/min"}, follow=True)
    assert "is now limited to 4/min" in limited.text
    api = _client(plain)
    assert [api.get("/api/v1/sites/").status_code for _ in range(3)] == [200] * 3
    assert api.get("/api/v1/sites/999999/").status_code == 404
    refused = api.get("/api/v1/sites/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) <= 60
    assert "its own limit, 4/min, set by a tenant admin" in refused.json()["detail"]
    assert _client(other).get("/api/v1/sites/").status_code == 200, "another key keeps its own budget"

    page = client.get(f"/t/{tenant.slug}/api-keys/")
    row = next(row for row in page.context["keys"] if row.pk == key.pk)
    assert (row.calls_today, row.usage) == (5, {"calls": 5, "errors": 2, "throttled": 1})
    assert 'value="4/min"' in page.text and "2 (1 over its rate)" in page.text and "data-figure" in page.text
    with tenant_context(tenant):
        entry = AuditEntry.objects.get(action="api_key.limited")
    assert entry.details["changes"] == [["rate", None, "4/min"]]

    client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/rate/", {"rate": ""})
    with tenant_context(tenant):
        assert ApiKey.objects.get(pk=key.pk).rate == ""


@pytest.mark.parametrize("rate", ["fast", "0/s", "10/fortnight", "10"])
def test_a_rate_that_is_not_calls_per_period_is_refused_naming_the_format(client, tenant_factory, rate):
    tenant, users = tenant_factory(members=[("admin", "admin")])
    client.force_login(users["admin"])
    _issue_on_page(client, tenant)
    with tenant_context(tenant):
        key = ApiKey.objects.get()
    page = client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/rate/", {"rate": rate}, follow=True)
    assert "Write a rate as calls per period" in page.text
    with tenant_context(tenant):
        assert ApiKey.objects.get().rate == ""


def test_only_a_tenant_admin_sets_a_keys_rate(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin"), ("partner", "partner")])
    client.force_login(users["partner"])
    _issue_on_page(client, tenant)
    with tenant_context(tenant):
        key = ApiKey.objects.get()
    assert client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/rate/", {"rate": "100/min"}).status_code == 403
    assert 'name="rate"' not in client.get(f"/t/{tenant.slug}/api-keys/").text
    with tenant_context(tenant):
        assert ApiKey.objects.get().rate == ""


def test_usage_of_another_tenants_key_is_not_shown(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin")])
    stranger, strangers = tenant_factory(members=[("admin", "admin")])
    client.force_login(strangers["admin"])
    plain = _issue_on_page(client, stranger).context["new_key"]
    _client(plain).get("/api/v1/sites/")
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/api-keys/")
    assert page.context["keys"] == [] and "relay" not in page.text
    with tenant_context(stranger):
        key = ApiKey.objects.get()
    assert client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/rate/", {"rate": "1/s"}).status_code == 404
    assert api_usage.daily_usage([key.pk])[key.pk]["calls"][-1] == 1
