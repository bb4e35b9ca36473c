"""The API documentation as a partner's engineer uses it: opened from the API keys page, rendered
from the portal's own files, and "Try it out" calling the live API as the signed-in user."""

import json

import pytest

from observations.models import Target
from portal.tenancy import tenant_context
from tests.browser.test_live_pages import sign_in

pytestmark = pytest.mark.browser


def test_the_docs_render_and_try_it_out_reads_and_writes_as_the_signed_in_user(
    page, live_server_url, committed_tenant_factory
):
    tenant, users = committed_tenant_factory()
    outside = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(live_server_url)
            else None)  # fmt: skip
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/api-keys/")
    page.click("#api-docs >> text=try calls in the browser")
    page.wait_for_selector("#operations-whoami-whoami_retrieve", timeout=30_000)
    assert page.locator(".opblock").count() > 20, "every endpoint is listed"
    feed = page.locator(".information-container")
    assert "The alert feed (websocket)" in feed.inner_text() and '"type": "caught_up"' in feed.inner_text()

    whoami = page.locator("#operations-whoami-whoami_retrieve")
    whoami.locator(".opblock-summary").click()
    whoami.locator("button.execute").click()  # tryItOutEnabled: no "Try it out" click needed
    whoami.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=15_000)
    assert whoami.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
    assert tenant.slug in whoami.locator(".live-responses-table tbody .microlight").first.inner_text()

    create = page.locator("#operations-targets-targets_create")
    create.locator(".opblock-summary").click()
    create.locator("textarea.body-param__text").fill(json.dumps({"name": "NGC 4565", "ra_deg": 189.0866,
                                                                 "dec_deg": 25.9877}))  # fmt: skip
    create.locator("button.execute").click()
    create.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=15_000)
    status = create.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip()
    assert status == "201", create.locator(".live-responses-table").inner_text()
    with tenant_context(tenant):
        assert Target.objects.filter(tenant=tenant, name="NGC 4565").exists()
    assert outside == [], "the docs load nothing from outside the portal"
