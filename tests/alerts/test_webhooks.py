"""A filter's matches reach its webhook signed, retried until the receiver takes them, and a
filter's rule asks for follow-up: on real workers, against a real HTTP receiver."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.deliveries import attempt
from alerts.models import AlertFilter, Source, WebhookDelivery
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from alerts.webhook_policy import verify
from observations.models import Target
from portal.tenancy import tenant_context
from scheduling.models import FollowUpRequest
from tests.conftest import api_client
from tests.waiting import eventually


class Receiver(ThreadingHTTPServer):
    """A partner's endpoint: answers the planned statuses first, then 200; keeps every request."""

    def __init__(self, failures):
        self.failures, self.received = list(failures), []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805 - the server is `self` here
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                self.received.append((dict(handler.headers), body))
                handler.send_response(self.failures.pop(0) if self.failures else 200)
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/alerts"


@pytest.fixture
def receiver():
    server = Receiver(failures=[503, 500])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settled(tenant, timeout=60):
    with tenant_context(tenant):
        eventually(lambda: list(WebhookDelivery.objects.values_list("status", flat=True)), timeout,
                   "webhook deliveries to settle", until=lambda said: said and "pending" not in said)  # fmt: skip
        return list(WebhookDelivery.objects.select_related("alert_filter").order_by("pk"))


def test_matches_are_posted_signed_and_retried_until_taken_and_a_rule_asks_for_follow_up_once(
    workers, committed_tenant_factory, receiver
):
    tenant, users = committed_tenant_factory(sites=[])
    user = users["admin"]
    with tenant_context(tenant):
        host = Target.objects.create(tenant=tenant, name="NGC 4993", ra_deg=197.4487, dec_deg=-23.3839)
        hooked = AlertFilter.objects.create(tenant=tenant, user=user, name="everything", conditions={},
                                            webhook_url=receiver.url, auto_follow_up=True)  # fmt: skip
        AlertFilter.objects.create(tenant=tenant, user=user, name="never", conditions={"brighter_than": 5},
                                   webhook_url=receiver.url)  # fmt: skip
        gone = AlertFilter.objects.create(tenant=tenant, user=user, name="gone", conditions={},
                                          webhook_url=f"http://127.0.0.1:{_closed_port()}/hook")  # fmt: skip
        packets = [make_alert(900 + n, "sn_ia", ra_deg=host.ra_deg, dec_deg=host.dec_deg).packet for n in range(2)]
        ids = [alert.pk for alert in ingest_packets(tenant, packets, source=Source.REST).alerts]

    deliveries = _settled(tenant)
    by_filter = {}
    for delivery in deliveries:
        by_filter.setdefault(delivery.alert_filter.name, []).append(delivery)
    assert set(by_filter) == {"everything", "gone"}, "a filter that did not match posts nothing"
    assert {d.status for d in by_filter["everything"]} == {"delivered"}
    assert sum(d.attempts for d in by_filter["everything"]) == len(by_filter["everything"]) + 2, "two refusals retried"
    assert all(d.status == "failed" and d.attempts == 3 for d in by_filter["gone"])
    assert by_filter["gone"][0].last_error.startswith("could not reach http://127.0.0.1:")

    posted = set()
    for headers, body in receiver.received:
        assert verify(hooked.webhook_secret, headers, body), "each attempt is signed afresh"
        assert not verify(hooked.webhook_secret, headers, body + b" "), "a changed body fails the check"
        assert not verify(gone.webhook_secret, headers, body), "another filter's secret fails the check"
        payload = json.loads(body)
        assert payload["filter"] == {"id": hooked.pk, "name": "everything"}
        assert all(alert["filters"] == [payload["filter"]] for alert in payload["alerts"])
        posted |= {alert["id"] for alert in payload["alerts"]}
    assert posted == set(ids)
    retried = [headers["X-Arrayscope-Delivery"] for headers, _ in receiver.received]
    assert len(retried) == len(by_filter["everything"]) + 2 and len(set(retried)) == len(by_filter["everything"])

    with tenant_context(tenant):
        (request,) = FollowUpRequest.objects.filter(target=host).select_related("from_alert")
    # Waiting, or already in tonight's plan: its arrival re-plans the night on a worker.
    assert request.status in {"pending", "scheduled"}
    assert request.from_alert.rule_id == hooked.pk and request.requested_by is None
    assert request.from_alert.alert_id in ids, "two matches on one target: one request"


def test_a_webhook_into_the_portals_own_network_is_refused_when_saved_and_when_called(tenant_factory, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    tenant, users = tenant_factory(sites=[])
    client = api_client(tenant, users["admin"])
    for url in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/", "http://localhost:5432/"):
        refused = client.post("/api/v1/alert-filters/", {"name": url, "conditions": {}, "webhook_url": url},
                              format="json")  # fmt: skip
        assert refused.status_code == 400 and "inside the portal's own network" in refused.json()["detail"]
    with tenant_context(tenant):
        # Saved while it pointed elsewhere (or while the setting allowed it): refused at the call, not retried.
        hooked = AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="inside", conditions={},
                                            webhook_url="http://127.0.0.1:9/hook")  # fmt: skip
        delivery = WebhookDelivery.objects.create(tenant=tenant, alert_filter=hooked, url=hooked.webhook_url,
                                                  payload=b"{}")  # fmt: skip
        assert attempt(delivery) is None
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert (
        delivery.last_error == "127.0.0.1 is 127.0.0.1, inside the portal's own network: webhooks may only call "
        "public addresses"
    )
