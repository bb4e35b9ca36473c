"""The live alert feed end to end: alerts posted to the API are classified by a real gpu
worker, run through the filters and pushed over a real websocket (Redis channel layer); a
client that reconnects with the last id it saw gets exactly what it missed."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from alerts import feed
from alerts.models import AlertFilter
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from portal.asgi import application
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.alerts.test_classification import serve_untrained, wait_published
from tests.alerts.test_ingest import as_json
from tests.conftest import api_client
from tests.portal.test_live import _session_cookie


def _feed(tenant, query, *, session=None, key=None):
    headers = [(b"origin", b"http://127.0.0.1")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    if key:
        headers.append((b"authorization", f"Api-Key {key}".encode()))
    return WebsocketCommunicator(application, f"/ws/t/{tenant.slug}/alerts/?{query}", headers=headers)


def _until_caught_up(communicator):
    async def read():
        received = []
        while True:
            message = await communicator.receive_json_from(timeout=10)
            if message["type"] == "caught_up":
                return received, message["last_id"]
            received.append(message["alert"])

    return read()


def test_posted_alerts_arrive_classified_and_a_reconnecting_client_gets_exactly_what_it_missed(
    workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])
        everything = AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="all", conditions={})
        nothing = AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="very bright",
                                             conditions={"brighter_than": 5})  # fmt: skip
    api, session = api_client(tenant, users["admin"]), _session_cookie(users["admin"])

    def post(seeds):
        response = api.post("/api/v1/alerts/", [as_json(make_alert(seed).packet) for seed in seeds], format="json")
        return response.json()["ids"]

    async def scenario():
        live = _feed(tenant, "after=0", session=session)
        assert (await live.connect())[0]
        assert await _until_caught_up(live) == ([], 0)
        first = post([90, 91, 92])
        arrived = [(await live.receive_json_from(timeout=60))["alert"] for _ in first]
        assert [alert["id"] for alert in arrived] == first
        assert all(alert["real_bogus"] is not None and alert["class"] for alert in arrived), arrived[0]
        assert [f["name"] for f in arrived[0]["filters"]] == ["all"]
        await live.disconnect()
        missed = post([93, 94])
        wait_published(tenant, missed)
        again = _feed(tenant, f"after={first[-1]}", session=session)
        assert (await again.connect())[0]
        backlog, last = await _until_caught_up(again)
        assert [alert["id"] for alert in backlog] == missed and last == missed[-1], "none lost, none twice"
        assert await again.receive_nothing(timeout=1)
        await again.disconnect()
        for chosen, expected in ((everything, first + missed), (nothing, [])):
            feed = _feed(tenant, f"filter={chosen.pk}", session=session)
            assert (await feed.connect())[0]
            assert [alert["id"] for alert in (await _until_caught_up(feed))[0]] == expected
            await feed.disconnect()

    async_to_sync(scenario)()


def test_a_partner_reads_the_feed_with_an_api_key_and_nobody_reads_another_observatorys(committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[], members=[("admin", "admin"), ("other", "astronomer")])
    stranger, strangers = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        _, key = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="partner")
        _, blind = ApiKey.issue(tenant=tenant, created_by=users["admin"], name="blind", app_scopes={"alerts": "none"})
        theirs = AlertFilter.objects.create(tenant=tenant, user=users["other"], name="theirs", conditions={})

    async def attempts():
        results = []
        for query, kwargs in (("after=0", {"key": key}), (f"after=0&key={key}", {}), ("after=0", {}),
                              (f"filter={theirs.pk}", {"key": key}), ("after=x", {"key": key}),
                              ("after=0", {"key": blind})):  # fmt: skip
            communicator = _feed(tenant, query, **kwargs)
            results.append(await communicator.connect())
            await communicator.disconnect()
        elsewhere = _feed(stranger, "after=0", key=key)
        results.append(await elsewhere.connect())
        await elsewhere.disconnect()
        return [(connected, code if not connected else None) for connected, code in results]

    assert async_to_sync(attempts)() == [(True, None), (True, None), (False, 4403), (False, 4400), (False, 4400),
                                          (False, 4403), (False, 4403)]  # fmt: skip


def test_an_alert_whose_publishing_breaks_part_way_stays_pending_and_goes_out_once(tenant_factory, monkeypatch):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="all", conditions={})
        ids = [alert.pk for alert in ingest_packets(tenant, [make_alert(95).packet, make_alert(96).packet],
                                                    source="rest").alerts]  # fmt: skip

        def broken(*args):
            raise RuntimeError("the worker died here")

        monkeypatch.setattr(feed, "matching_filters", broken)
        with pytest.raises(RuntimeError):
            feed.publish(tenant, ids)
        monkeypatch.undo()
        assert feed.waiting(tenant, []) == ids, "both still wait for the next classifier run"
        assert feed.recent(tenant) == []
        assert feed.publish(tenant, ids) == 2 and feed.publish(tenant, ids) == 0, "each goes out once"
        assert feed.waiting(tenant, []) == []
        assert [(alert["id"], [f["name"] for f in alert["filters"]]) for alert in feed.recent(tenant)] == [
            (ids[0], ["all"]), (ids[1], ["all"])
        ]  # fmt: skip
