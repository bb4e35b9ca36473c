"""Creating targets by name: Sesame's recorded replies served over real HTTP, and the resolver offline."""

import http.server
import threading
import urllib.parse
from pathlib import Path

import pytest
from django.test import override_settings

from observations.models import Target
from observations.resolver import ResolverUnavailable, UnknownName, resolve_name
from portal.tenancy import tenant_context
from tests.conftest import api_client

RECORDED = Path(__file__).parent / "recorded"
REPLIES = {"ngc 3642": "sesame_ngc3642.txt", "castor": "sesame_castor.txt"}


class RecordedSesame(http.server.BaseHTTPRequestHandler):
    """Answers Sesame's URL scheme (``<mirror>/<databases>?<name>``) from recorded replies."""

    def do_GET(self):
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).query).lower()
        reply = (RECORDED / REPLIES.get(name, "sesame_nothing_found.txt")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sesame():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordedSesame)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with override_settings(NAME_RESOLVER_URLS=[f"http://127.0.0.1:{server.server_address[1]}/sesame/"]):
        yield
    server.shutdown()


OFFLINE = override_settings(NAME_RESOLVER_URLS=["http://127.0.0.1:9/sesame/"], NAME_RESOLVER_TIMEOUT_S=2)


def test_known_names_resolve_to_their_catalogue_positions(sesame):
    ngc = resolve_name("NGC 3642")
    assert ngc.ra.deg == pytest.approx(170.57458768, abs=1e-8) and ngc.dec.deg == pytest.approx(59.07452101, abs=1e-8)
    assert resolve_name("castor").dec.deg == pytest.approx(31.888282216, abs=1e-8)


def test_unknown_name_says_so(sesame):
    with pytest.raises(UnknownName, match="no catalogue knows 'Galaxy of Nowhere'"):
        resolve_name("Galaxy of Nowhere")


@OFFLINE
def test_offline_resolver_is_a_clear_error():
    with pytest.raises(ResolverUnavailable, match="could not reach the name resolver"):
        resolve_name("NGC 3642")


def test_target_form_resolves_a_name_when_no_position_is_given(client, tenant_factory, sesame):
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    response = client.post(
        f"/t/{tenant.slug}/targets/new/",
        {"name": "NGC 3642", "frame": "icrs", "kind": "galaxy", "visibility": "tenant"},
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Target.objects.get(name="NGC 3642").dec_deg == pytest.approx(59.0745, abs=1e-4)


@OFFLINE
def test_target_form_offline_asks_for_coordinates_and_still_accepts_them(client, tenant_factory):
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    form = {"name": "NGC 3642", "frame": "icrs", "kind": "galaxy", "visibility": "tenant"}
    page = client.post(f"/t/{tenant.slug}/targets/new/", form)
    assert page.status_code == 200 and "could not reach the name resolver" in page.text
    response = client.post(f"/t/{tenant.slug}/targets/new/", {**form, "position": "11:22:17.90 +59:04:28.2"})
    assert response.status_code == 302


def test_api_creates_a_target_by_name_alone(tenant_factory, sesame):
    tenant, users = tenant_factory(sites=[])
    client = api_client(tenant, users["admin"])
    created = client.post("/api/v1/targets/", {"name": "castor", "kind": "star"}, format="json")
    assert created.status_code == 201 and created.json()["ra_hms"].startswith("07h34m35.87")
    unknown = client.post("/api/v1/targets/", {"name": "Galaxy of Nowhere"}, format="json")
    assert unknown.status_code == 400 and "no catalogue knows" in unknown.json()["errors"]["name"][0]
