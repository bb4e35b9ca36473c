"""Fixtures on the real stack: the database and Redis the launcher's ``test`` command started,
real Celery workers and a real ASGI server as separate processes, as in production.
"""

import itertools
import os
import socket
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from portal.launcher import (
    WORKER_CONCURRENCY,
    spawn,
    spawn_web,
    stop_processes,
    wait_healthy,
    worker_command,
)
from portal.models import ApiKey, Membership, Role, Site, Tenant
from portal.tenancy import tenant_context
from tests.waiting import eventually

# Playwright's sync API runs an event loop in the test's thread; the ORM calls a browser test
# makes around it are ordinary blocking calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)

# Fixtures that start processes (Celery workers, a web server, a whole launched portal) or a
# browser: a test using any of them, directly or through another fixture, is ``live``.
LIVE_FIXTURES = {"workers", "live_server_url", "web_only_server", "bounded_server", "portal", "browser"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: needs Celery workers, a web server or a browser; -m 'not live' is the fast inner loop"
    )
    if not os.environ.get("ARRAYSCOPE_TEST_STACK"):
        raise pytest.UsageError(
            "These tests run on the fresh database and Redis that the launcher starts under var/test: "
            "run them with ./arrayscope test [pytest arguments] instead of pytest."
        )


def pytest_collection_modifyitems(items):
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test's websockets get a channel layer of their own. Every ``async_to_sync`` runs a
    new event loop, and the Redis layer keeps the receive lock of the loop that first
    received: one test stopped mid-receive would leave it held for all the tests after."""
    from channels.layers import channel_layers

    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session")
def django_db_setup():
    """The launcher's test command made the database with setup_database, as production does."""


@pytest.fixture
def committed(django_db_blocker):
    """Database access outside a test transaction, for data that workers and servers must see."""
    with django_db_blocker.unblock():
        yield


def unique(prefix):
    return f"{prefix}-{os.getpid()}-{next(_serial)}"


def make_tenant(*, members=(("admin", Role.ADMIN),), sites=("site",)):
    """A tenant with one user per (name, role) and a site per code; returns (tenant, {name: user})."""
    tenant = Tenant.objects.create(slug=unique("t"), name=unique("Observatory"))
    users = {}
    with tenant_context(tenant):
        for name, role in members:
            user = get_user_model().objects.create_user(username=unique(name), password=PASSWORD)
            Membership.objects.create(tenant=tenant, user=user, role=role)
            users[name] = user
        for code in sites:
            Site.objects.create(
                tenant=tenant,
                code=code,
                name=f"{code} of {tenant.slug}",
                latitude_deg=28.3,
                longitude_deg=-16.5,
                height_m=2390,
                time_zone="Atlantic/Canary",
            )
    return tenant, users


def api_client(tenant, user, scope="write"):
    """A DRF test client holding a fresh API key of ``tenant`` issued by ``user``."""
    from rest_framework.test import APIClient

    with tenant_context(tenant):
        _, plain = ApiKey.issue(tenant=tenant, created_by=user, name="test key", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


@pytest.fixture
def tenant_factory(db):
    return make_tenant


@pytest.fixture
def committed_tenant_factory(committed):
    return make_tenant


def _log_dir():
    return Path(settings.VAR_DIR) / "log"


def _service_env():
    """The environment for the servers under test: this one, less the browser tests' allowance."""
    return {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}


@pytest.fixture(scope="session")
def workers():
    """One real Celery worker per queue, started as the launcher starts them."""
    from portal.health import check_workers

    processes = [spawn(f"test-worker-{queue}", worker_command(queue), _service_env(), _log_dir())
                 for queue in WORKER_CONCURRENCY]  # fmt: skip
    try:
        eventually(lambda: check_workers(timeout=0.5), 60, "a live Celery worker on every queue",
                   interval=0, ignoring=(RuntimeError,))  # fmt: skip
    except AssertionError:
        stop_processes(processes)
        raise
    yield processes
    stop_processes(processes)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def live_server_url(workers):
    """The ASGI server (HTTP and websockets) on a free port."""
    port = _free_port()
    servers = spawn_web("127.0.0.1", port, _service_env(), _log_dir(), name="test-web")
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/healthz", [*servers, *workers], timeout=60)
    yield url
    stop_processes(servers)


@pytest.fixture
def web_only_server(committed):
    """An ASGI server with no workers, logging to files of its own, for tests of the web process
    alone: ``(url, processes)``. Names resolve against a closed local port (no internet)."""
    from tests.api_fuzz import wait_answering

    port = _free_port()
    env = {**_service_env(), "NAME_RESOLVER_URLS": "http://127.0.0.1:9/"}
    servers = spawn_web("127.0.0.1", port, env, _log_dir(), name=unique("test-web-only"), count=1)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(url)
        yield url, servers
    finally:
        stop_processes(servers)
