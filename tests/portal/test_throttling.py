"""Rate limits: password guessing, key guessing and floods are refused with 429 and Retry-After.

Each test calls from an address of its own (the suite's other tests all call from 127.0.0.1,
for which the launcher raises the per-address limits) and sets small limits for itself.
"""

import secrets

import pytest
from asgiref.sync import async_to_sync
from django.test import Client, override_settings
from rest_framework.test import APIClient

from alerts.synthetic import make_alert
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.alerts.test_ingest import as_json
from tests.conftest import PASSWORD


@pytest.fixture
def address():
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _sign_in(client, username, password, address):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _key(tenant, user):
    with tenant_context(tenant):
        return ApiKey.issue(tenant=tenant, created_by=user, name="pipeline", scope="read")[1]


def _api(plain=None):
    client = APIClient()
    if plain:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def _assert_throttled(response):
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60


@override_settings(LOGIN_FAILURES_PER_ACCOUNT="3/15min", LOGIN_FAILURES_PER_ADDRESS="100/15min")
def test_an_account_is_closed_after_repeated_wrong_passwords_even_to_the_right_one(tenant_factory, address):
    _, users = tenant_factory(members=[("admin", "admin"), ("other", "astronomer")])
    client = Client()
    for _ in range(3):
        response = _sign_in(client, users["admin"].username, "wrong", address)
        assert response.status_code == 200 and "Please try again" in response.text
    refused = _sign_in(client, users["admin"].username, PASSWORD, address)
    _assert_throttled(refused)
    assert "Too many failed sign-ins" in refused.text and "_auth_user_id" not in client.session
    assert _sign_in(Client(), users["other"].username, PASSWORD, address).status_code == 302, "other accounts sign in"


@override_settings(LOGIN_FAILURES_PER_ACCOUNT="100/15min", LOGIN_FAILURES_PER_ADDRESS="4/15min")
def test_an_address_trying_many_accounts_is_shut_out(tenant_factory, address):
    _, users = tenant_factory(members=[("admin", "admin")])
    for attempt in range(4):
        assert _sign_in(Client(), f"guess-{attempt}", "wrong", address).status_code == 200
    _assert_throttled(_sign_in(Client(), users["admin"].username, PASSWORD, address))
    assert _sign_in(Client(), users["admin"].username, PASSWORD, "192.0.2.7").status_code == 302


@override_settings(API_KEY_FAILURES_PER_ADDRESS="5/10min")
def test_guessing_key_secrets_is_refused_after_a_few_tries(tenant_factory, address):
    tenant, users = tenant_factory()
    plain = _key(tenant, users["admin"])
    prefix = "_".join(plain.split("_", 2)[:2])  # the key's real prefix, with guessed secrets
    for _ in range(5):
        guess = _api(f"{prefix}_{secrets.token_hex(24)}")
        assert guess.get("/api/v1/whoami/", REMOTE_ADDR=address).status_code == 401
    refused = _api(plain).get("/api/v1/whoami/", REMOTE_ADDR=address)
    _assert_throttled(refused)
    assert refused["Content-Type"] == "application/problem+json" and "throttled" in refused.json()["detail"].lower()
    assert _api(plain).get("/api/v1/whoami/", REMOTE_ADDR="192.0.2.8").status_code == 200, "other addresses go on"


@override_settings(API_RATE_PER_KEY="5/min")
def test_a_key_calling_too_often_gets_429_while_other_keys_go_on(tenant_factory, address):
    tenant, users = tenant_factory()
    busy, calm = _key(tenant, users["admin"]), _key(tenant, users["admin"])
    for _ in range(5):
        assert _api(busy).get("/api/v1/sites/", REMOTE_ADDR=address).status_code == 200
    _assert_throttled(_api(busy).get("/api/v1/sites/", REMOTE_ADDR=address))
    assert _api(calm).get("/api/v1/sites/", REMOTE_ADDR=address).status_code == 200


@override_settings(API_RATE_ANONYMOUS="3/min")
def test_calls_without_a_key_are_limited_per_address(db, address):
    for _ in range(3):
        assert _api().get("/api/v1/sites/", REMOTE_ADDR=address).status_code == 401
    _assert_throttled(_api().get("/api/v1/sites/", REMOTE_ADDR=address))


@override_settings(ALERTS_PER_KEY="3/min")
def test_a_key_that_has_sent_its_alerts_for_the_minute_is_refused_until_the_next(tenant_factory, address):
    """A body's packets count when they are stored: the call that passes the budget is answered
    whole, the next is refused, and other keys go on."""
    tenant, users = tenant_factory()
    with tenant_context(tenant):
        busy, calm = (ApiKey.issue(tenant=tenant, created_by=users["admin"], name=name, scope="write")[1]
                      for name in ("broker", "pipeline"))  # fmt: skip
    packets = [as_json(make_alert(70 + n).packet) for n in range(4)]
    assert _api(busy).post("/api/v1/alerts/", packets[:2], format="json", REMOTE_ADDR=address).status_code == 201
    passing = _api(busy).post("/api/v1/alerts/", packets[2:], format="json", REMOTE_ADDR=address)
    assert passing.status_code == 201 and passing.json()["stored"] == 2
    refused = _api(busy).post("/api/v1/alerts/", [as_json(make_alert(73).packet)], format="json", REMOTE_ADDR=address)
    _assert_throttled(refused)
    assert refused.json()["detail"].startswith("this key has sent its 3/min alerts")
    assert _api(calm).post("/api/v1/alerts/", [as_json(make_alert(74).packet)], format="json",
                           REMOTE_ADDR=address).status_code == 201  # fmt: skip


@override_settings(API_KEY_FAILURES_PER_ADDRESS="3/10min")
def test_guessing_keys_on_the_alert_websocket_counts_as_on_the_api(committed_tenant_factory, address):
    """Wrong keys on the feed's websocket count against the address with those sent to the REST
    API: past the limit even the right key is refused (close code 4429), other addresses go on.
    Committed: the consumer reads the database on connections of its own."""
    tenant, users = committed_tenant_factory(sites=[])
    plain = _key(tenant, users["admin"])
    prefix = "_".join(plain.split("_", 2)[:2])
    assert _api(f"{prefix}_{secrets.token_hex(24)}").get("/api/v1/whoami/", REMOTE_ADDR=address).status_code == 401
    for _ in range(2):
        assert _feed(tenant, f"{prefix}_{secrets.token_hex(24)}", address) == (False, 4403)
    assert _feed(tenant, plain, address) == (False, 4429)
    assert _feed(tenant, plain, "192.0.2.9") == (True, None)


def _feed(tenant, key, address):
    """(accepted, close code) of the alert feed's websocket opened with ``key`` from ``address``."""
    from channels.testing import WebsocketCommunicator

    from portal.asgi import application

    async def knock():
        path = f"/ws/t/{tenant.slug}/alerts/?key={key}"
        communicator = WebsocketCommunicator(application, path)
        communicator.scope["client"] = (address, 50000)
        accepted, code = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return accepted, None if accepted else code

    return async_to_sync(knock)()
