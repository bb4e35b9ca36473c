"""The alerts dashboard's pages as the server renders them."""

import datetime
import gzip
import json
import re

from astropy.time import Time
from django.utils import timezone

from alerts.dashboard import stream_status
from alerts.features import ALERT_CLASSES
from alerts.models import Alert, AlertClassification, AlertFilter, AlertObject, AlertStream, Source
from alerts.packets import read_packet
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from mlmodels.models import MLModel, ModelVersion
from mlmodels.services import create_task_model
from portal.tenancy import tenant_context


def a_night_of_alerts(tenant, user, count, *, received_at=None):
    """``count`` alerts of one night as if already sent out, stored in bulk: copies of one
    synthetic packet (stamps, history) spread over the sky and the night, 50 per object;
    four in five classified by a light-curve model, in turn through its classes."""
    seed = read_packet(make_alert(1).packet)
    objects = AlertObject.objects.bulk_create(
        AlertObject(tenant=tenant, object_id=f"ZTF26night{index:04d}", ra_deg=0, dec_deg=0, first_mjd=seed.mjd,
                    last_mjd=seed.mjd, detections=50) for index in range(count // 50 + 1)
    )  # fmt: skip
    start = Time("2026-11-30T20:00:00", scale="utc")
    alerts = []
    for index in range(count):
        when = start + datetime.timedelta(seconds=index * 6)
        alerts.append(Alert(
            tenant=tenant, alert_object=objects[index // 50], candidate_id=10**12 + index, source=Source.STREAM,
            ra_deg=(30 + index * 137.508) % 360, dec_deg=-30 + (index * 7.31) % 115,
            observed_at=when.to_datetime(timezone=datetime.UTC), mjd=when.mjd, band="gr"[index % 2],
            magnitude=17 + (index % 30) / 10, magnitude_error=0.05, history=seed.history,
            received_at=received_at or timezone.now(), **{f"{name}_stamp": data for name, data in seed.stamps.items()},
        ))  # fmt: skip
    alerts = Alert.objects.bulk_create(alerts, batch_size=500)  # no PendingAlert: as if sent out
    model = create_task_model(tenant, user, name="light-curve", task=MLModel.Task.LIGHT_CURVE)
    version = ModelVersion.objects.create(tenant=tenant, model=model, number=1, artifact_path="unused", sha256="0" * 64)
    AlertClassification.objects.bulk_create(
        AlertClassification(tenant=tenant, alert=alert, version=version,
                            label=ALERT_CLASSES[index % len(ALERT_CLASSES)],
                            probabilities={ALERT_CLASSES[index % len(ALERT_CLASSES)]: 0.9})
        for index, alert in enumerate(alerts) if index % 5 != 4
    )  # fmt: skip
    return alerts


def test_an_alert_panel_shows_its_stamps_and_light_curve_and_stamps_are_pngs(client, tenant_factory):
    tenant, users = tenant_factory(sites=[])
    other, _ = tenant_factory(sites=[])
    with tenant_context(tenant):
        (alert,) = ingest_packets(tenant, [make_alert(110, "sn_ia").packet], source=Source.REST).alerts
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/alerts/")
    assert page.status_code == 200 and 'id="sky-map"' in page.text and 'id="initial-alerts"' in page.text
    panel = client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/")
    assert panel.status_code == 200 and alert.alert_object.object_id in panel.text and 'id="light-curve"' in panel.text
    assert "No model has classified it yet." in panel.text
    stamp = client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/difference.png")
    assert stamp.status_code == 200 and stamp.content.startswith(b"\x89PNG")
    assert client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/other.png").status_code == 404
    with tenant_context(other):
        (theirs,) = ingest_packets(other, [make_alert(111).packet], source=Source.REST).alerts
    assert client.get(f"/t/{tenant.slug}/alerts/{theirs.pk}/").status_code == 404, "another observatory's alert"
    assert gzip.decompress(bytes(alert.science_stamp))[:6] == b"SIMPLE"


def test_the_dashboard_opens_with_one_page_and_older_pages_come_a_page_at_a_time(client, tenant_factory):
    tenant, users = tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")), sites=[])
    with tenant_context(tenant):
        alerts = a_night_of_alerts(tenant, users["admin"], 120)
        mine = AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="mine", conditions={})
        theirs = AlertFilter.objects.create(tenant=tenant, user=users["astronomer"], name="theirs", conditions={})
    ids = [alert.pk for alert in alerts][::-1]  # newest first, as the table shows them
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/alerts/")
    shown = json.loads(re.search(r'id="initial-alerts" type="application/json">(.*?)</script>', page.text)[1])
    assert [alert["id"] for alert in shown][::-1] == ids[:50], "the newest page, not the night"
    figure = json.loads(re.search(r'id="sky-map" data-figure="(.*?)"', page.text)[1].replace("&quot;", '"'))
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert set(traces) == {"SN Ia", "SN II", "variable star", "AGN", "unclassified"}, "a trace a class"
    assert sum(len(trace["lon"]) for trace in traces.values()) == 120
    assert traces["unclassified"]["marker"]["color"] != traces["SN Ia"]["marker"]["color"]
    geo = figure["layout"]["geo"]
    assert not any(geo.get(f"show{layer}") for layer in ("land", "lakes", "ocean", "rivers", "coastlines", "countries"))

    older = client.get(f"/t/{tenant.slug}/alerts/page/", {"before": ids[49]}).json()
    assert [alert["id"] for alert in older["alerts"]] == ids[50:100] and older["older"]
    oldest = client.get(f"/t/{tenant.slug}/alerts/page/", {"before": ids[99]}).json()
    assert [alert["id"] for alert in oldest["alerts"]] == ids[100:] and not oldest["older"]
    assert client.get(f"/t/{tenant.slug}/alerts/page/", {"before": ids[0], "filter": mine.pk}).json()["alerts"] == []
    assert client.get(f"/t/{tenant.slug}/alerts/page/", {"before": ids[0], "filter": theirs.pk}).status_code == 404
    refused = client.get(f"/t/{tenant.slug}/alerts/page/", {"before": "latest"})
    assert refused.status_code == 400 and "before must be an alert id" in refused.json()["detail"]


def test_the_dashboard_says_when_no_stream_runs_and_why(client, tenant_factory):
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    now = timezone.now()

    def status():
        with tenant_context(tenant):
            return stream_status(tenant)

    assert status().notice == ("No alert stream is running: none is set up (an admin adds one under Admin › Alert "
                               "streams; consume_alerts runs it); no alert received yet.")  # fmt: skip
    page = client.get(f"/t/{tenant.slug}/alerts/").text
    assert '<p class="warning" id="stream-notice" role="status">' in page and "none is set up" in page
    sky = json.loads(re.search(r'id="sky-map" data-figure="(.*?)"', page)[1].replace("&quot;", '"'))
    assert [trace["type"] for trace in sky["data"]] == ["scattergeo"], "an empty sky, not bare axes"

    with tenant_context(tenant):
        a_night_of_alerts(tenant, users["admin"], 1, received_at=now - datetime.timedelta(hours=3))
        stream = AlertStream.objects.create(tenant=tenant, name="ztf", kind="kafka", bootstrap_servers="kafka:9092",
                                            topic="ztf_20261130_programid1", enabled=False,
                                            last_received_at=now - datetime.timedelta(hours=3))  # fmt: skip
    assert status().notice.startswith("No alert stream is running: ztf is disabled; last alert received ")
    assert status().notice.endswith(" UTC (3 hours ago).")
    with tenant_context(tenant):
        AlertStream.objects.filter(pk=stream.pk).update(enabled=True, last_error="cannot reach the Kafka brokers at "
                                                        "kafka:9092")  # fmt: skip
    assert status().notice.startswith("No alert stream is running: ztf failed: cannot reach the Kafka brokers at "
                                      "kafka:9092; last alert")  # fmt: skip
    with tenant_context(tenant):
        AlertStream.objects.filter(pk=stream.pk).update(last_error="")
    assert "ztf has received nothing since" in status().notice
    assert "ztf has received nothing since" in client.get(f"/t/{tenant.slug}/alerts/stream/").json()["notice"]

    with tenant_context(tenant):
        AlertStream.objects.filter(pk=stream.pk).update(last_received_at=now - datetime.timedelta(minutes=1))
    assert status().running and status().notice == ""
    assert client.get(f"/t/{tenant.slug}/alerts/stream/").json() == {"running": True, "notice": ""}
    assert '<p class="warning" id="stream-notice" role="status" hidden>' in client.get(f"/t/{tenant.slug}/alerts/").text

    with tenant_context(tenant):
        AlertStream.objects.filter(pk=stream.pk).update(enabled=False)
    assert not status().running
    with tenant_context(tenant):
        ingest_packets(tenant, [make_alert(112).packet], source=Source.REST)
    assert status().running, "alerts posted to the API flow too"
