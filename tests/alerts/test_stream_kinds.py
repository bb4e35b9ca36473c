"""A new kind of alert stream is a class behind ``streams.StreamKind`` and a line in
``settings.ALERT_STREAM_KINDS``: the admin offers it, the consumer runs it, and what it
stores is labelled by it — no caller changes."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from alerts.models import Alert, AlertStream, Source, stream_kind_choices
from alerts.streams import StreamKind, run_stream
from alerts.synthetic import make_alert
from portal.tenancy import tenant_context

HANDED_OVER = [make_alert(1200 + n).packet for n in range(4)]


class HandedOver(StreamKind):
    """Packets handed over in memory: the smallest stream there is."""

    label, source = "Packets handed over", Source.REST

    def origin(self, stream):
        return f"handed:{stream.name}"

    def consume(self, stream, more, store, progress):
        for start in range(0, len(HANDED_OVER), 2):
            if not more():
                return
            store(HANDED_OVER[start : start + 2], self.origin(stream))


KINDS = {"kafka": "alerts.streams.KafkaTopic", "replay": "alerts.streams.ReplayFolder",
         "handed": "tests.alerts.test_stream_kinds.HandedOver"}  # fmt: skip


@override_settings(ALERT_STREAM_KINDS=KINDS)
def test_a_stream_kind_added_by_a_class_and_a_setting_is_offered_run_and_labelled(tenant_factory):
    tenant, _ = tenant_factory(sites=[])
    assert ("handed", "Packets handed over") in stream_kind_choices(), "the admin's kind list offers it"
    with tenant_context(tenant):
        stream = AlertStream(tenant=tenant, name="in-memory", kind="handed")
        stream.full_clean()  # a kind the settings name is a valid choice
        stream.save()
        assert run_stream(stream, max_alerts=2).stored == 2, "it stops when the consumer says so"
        again = run_stream(stream)
        assert (again.stored, again.duplicates) == (2, 2)
        stored = Alert.objects.filter(tenant=tenant)
        assert set(stored.values_list("origin", "source")) == {("handed:in-memory", Source.REST)}
        stream.refresh_from_db()
        assert stream.received == 6


def test_a_kind_the_settings_do_not_name_is_not_a_choice(tenant_factory):
    tenant, _ = tenant_factory(sites=[])
    assert [key for key, _ in stream_kind_choices()] == ["kafka", "replay"]
    with tenant_context(tenant):
        stream = AlertStream(tenant=tenant, name="in-memory", kind="handed")
        with pytest.raises(ValidationError, match="'handed' is not a valid choice"):
            stream.full_clean()
