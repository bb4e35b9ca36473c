"""The demo's alert night: what a first-time visitor sees arrive on the dashboard."""

from django.test import override_settings

from alerts.demo import ON_A_TARGET, STREAM_NAME, load_demo_alerts
from alerts.models import Alert, AlertFilter, AlertStream
from alerts.streams import run_stream
from observations.demo import load_demo_targets
from portal.tenancy import tenant_context


def test_each_start_writes_a_new_night_that_replays_into_the_portal_partly_on_the_demo_targets(
    tenant_factory, tmp_path
):
    tenant, users = tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")), sites=[])
    with tenant_context(tenant), override_settings(VAR_DIR=tmp_path):
        load_demo_targets(tenant, users["admin"])
        stream = load_demo_alerts(tenant, users["astronomer"])
        first_night = sorted(path.name for path in (tmp_path / "alerts" / tenant.slug).glob("*.avro"))
        stream.rate_per_s = 10_000  # the demo plays at two a second; the test needs no wait
        progress = run_stream(stream, max_alerts=200)

        assert progress.stored >= 200 and progress.refused == 0
        alerts = Alert.objects.filter(tenant=tenant).select_related("alert_object__target")
        on_targets = [alert for alert in alerts if "demo" in alert.alert_object.target.tags]
        assert len(on_targets) >= progress.stored // ON_A_TARGET
        assert {f.name for f in AlertFilter.objects.filter(user=users["astronomer"])} == {
            "Bright real supernovae", "On our targets"
        }  # fmt: skip

        stream = load_demo_alerts(tenant, users["astronomer"])  # the next start of the portal
        second_night = sorted(path.name for path in (tmp_path / "alerts" / tenant.slug).glob("*.avro"))
        assert AlertStream.objects.filter(tenant=tenant, name=STREAM_NAME).count() == 1
        assert len(second_night) == len(first_night) and not set(second_night) & set(first_night)
        stream.rate_per_s = 10_000
        progress = run_stream(stream, max_alerts=100)
    assert progress.stored >= 100 and progress.duplicates == 0, "a restarted demo shows new alerts"
