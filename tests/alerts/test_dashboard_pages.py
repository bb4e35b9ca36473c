"""The alerts dashboard's pages as the server renders them."""

import gzip

from alerts.models import Source
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from portal.tenancy import tenant_context


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
