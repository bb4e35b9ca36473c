"""A filter's webhook may only call public addresses, and a user's filters have one name each:
the filter page and the API refuse alike (one validator each), each in its own words, and
store nothing."""

from alerts.models import AlertFilter
from portal.tenancy import tenant_context
from tests.conftest import api_client

INSIDE = "http://127.0.0.1:6379/"
REFUSAL = "127.0.0.1 is 127.0.0.1, inside the portal's own network: webhooks may only call public addresses"


def test_a_webhook_into_the_portals_network_is_refused_on_the_page_as_in_the_api(client, tenant_factory, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    page = client.post(f"/t/{tenant.slug}/alerts/filters/new/", {"name": "inside", "webhook_url": INSIDE})
    assert page.status_code == 200 and REFUSAL.replace("'", "&#x27;") in page.text
    refused = api_client(tenant, users["admin"]).post(
        "/api/v1/alert-filters/", {"name": "inside", "conditions": {}, "webhook_url": INSIDE}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["detail"] == f"webhook_url: {REFUSAL}"
    with tenant_context(tenant):
        assert not AlertFilter.objects.exists()


def test_a_second_filter_of_the_same_name_is_refused_on_the_page_as_in_the_api_and_a_rename_to_its_own_is_not(
    client, tenant_factory
):
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    api = api_client(tenant, users["admin"])
    created = api.post("/api/v1/alert-filters/", {"name": "bright", "conditions": {}}, format="json")
    assert created.status_code == 201, created.json()
    page = client.post(f"/t/{tenant.slug}/alerts/filters/new/", {"name": "bright"})
    assert page.status_code == 200 and "You already have a filter with this name." in page.text
    again = api.post("/api/v1/alert-filters/", {"name": "bright", "conditions": {}}, format="json")
    assert again.status_code == 400 and again.json()["detail"] == "name: you already have a filter with this name"
    same = api.patch(f"/api/v1/alert-filters/{created.json()['id']}/", {"name": "bright"}, format="json")
    assert same.status_code == 200, "a filter keeps its own name"
    kept = client.post(f"/t/{tenant.slug}/alerts/filters/{created.json()['id']}/", {"name": "bright"})
    assert kept.status_code == 302, "the page saves a filter under its own name"
    with tenant_context(tenant):
        assert list(AlertFilter.objects.values_list("name", flat=True)) == ["bright"]
