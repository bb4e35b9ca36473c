"""Who may open a websocket without an Origin header, against the live ASGI server.

Python clients send no Origin: with an API key they are partners and get the feed; a
session cookie without an Origin, or with a foreign one, is refused (another site's page
must not ride a member's session), while the portal's own pages keep working."""

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.portal.test_live import _session_cookie


def _open(url, headers, origin=None):
    """The first message of the alert feed, or the HTTP status the handshake was refused with."""
    try:
        with connect(url, additional_headers=headers, origin=origin, open_timeout=10) as socket:
            return socket.recv(timeout=10)
    except InvalidStatus as refused:
        return refused.response.status_code


def test_a_key_needs_no_origin_but_a_session_needs_the_portals_own(live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="partner script")
    url = f"{live_server_url.replace('http', 'ws', 1)}/ws/t/{tenant.slug}/alerts/"
    cookie = {"Cookie": f"sessionid={_session_cookie(users['admin'])}"}
    caught_up = '{"type": "caught_up", "last_id": 0}'

    assert _open(url, {"Authorization": f"Api-Key {key}"}) == caught_up, "a Python client with a key"
    assert _open(f"{url}?key={key}", {}) == caught_up
    assert _open(url, cookie, origin=live_server_url) == caught_up, "the portal's own page"
    assert _open(url, cookie, origin="https://evil.example") == 403, "another site's page riding the session"
    assert _open(url, {"Authorization": f"Api-Key {key}"}, origin="https://evil.example") == 403
    assert _open(url, cookie) == 403, "a cookie without an Origin is not a key"
