"""Alert streams as an observatory connects them: a broker's Kafka topic (a real Kafka
protocol broker, librdkafka's in-process mock cluster), a replayed folder of Avro files, and
what the admin reads when the broker cannot be reached."""

import io
import logging
import threading
from dataclasses import dataclass

import pytest
from confluent_kafka import Producer
from django.core.management import call_command
from django.db import IntegrityError, transaction

from alerts.avro import write_alerts
from alerts.models import Alert, AlertStream, DeadLetter
from alerts.streams import run_stream
from alerts.synthetic import make_alert
from portal.tenancy import tenant_context
from tests.waiting import eventually


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        yield tenant


@dataclass
class Broker:
    producer: Producer
    address: str


@pytest.fixture
def broker():
    """A Kafka cluster in this process, listening on a real port, and a producer on it."""
    producer = Producer({"bootstrap.servers": "", "test.mock.num.brokers": 1, "logger": logging.getLogger("mock")})
    brokers = producer.list_topics(timeout=10).brokers.values()
    yield Broker(producer, ",".join(f"{broker.host}:{broker.port}" for broker in brokers))
    producer.flush(5)


def avro_message(alert):
    """One packet as ZTF sends it on Kafka: an Avro container holding one record."""
    buffer = io.BytesIO()
    write_alerts(buffer, [alert.packet])
    return buffer.getvalue()


def test_a_kafka_topic_is_consumed_into_alerts_and_a_bad_message_is_a_dead_letter(observatory, broker):
    alerts = [make_alert(40 + n) for n in range(5)]
    for alert in alerts[:3]:
        broker.producer.produce("ztf_20261130_programid1", value=avro_message(alert))
    broker.producer.produce("ztf_20261130_programid1", value=b"this is not avro")
    for alert in alerts[3:]:
        broker.producer.produce("ztf_20261130_programid1", value=avro_message(alert))
    broker.producer.flush(10)
    stream = AlertStream.objects.create(tenant=observatory, name="ztf-public", kind="kafka",
                                        bootstrap_servers=broker.address, topic="ztf_20261130_programid1")  # fmt: skip
    progress = run_stream(stream, seconds=30, max_alerts=6)
    assert (progress.stored, progress.refused) == (5, 1)
    assert set(Alert.objects.values_list("candidate_id", flat=True)) == {a.packet["candid"] for a in alerts}
    letter = DeadLetter.objects.get()
    assert letter.origin.startswith("ztf-public:ztf_20261130_programid1[") and "it is not an Avro file" in letter.reason
    stream.refresh_from_db()
    assert stream.received == 5 and stream.last_received_at is not None
    again = run_stream(stream, seconds=4)
    assert again.handled == 0, "offsets were committed after the batch was stored: nothing is read twice"


def test_an_unreachable_broker_is_said_once_on_the_stream_and_in_one_dead_letter(observatory):
    stream = AlertStream.objects.create(tenant=observatory, name="broker-down", kind="kafka",
                                        bootstrap_servers="127.0.0.1:9", topic="ztf")  # fmt: skip
    progress = run_stream(stream, seconds=3)
    stream.refresh_from_db()
    assert progress.handled == 0
    assert stream.last_error.startswith("cannot reach the Kafka brokers at 127.0.0.1:9 (")
    assert list(DeadLetter.objects.values_list("reason", flat=True)) == [stream.last_error], "once, not per retry"


def test_replayed_folders_are_fed_at_their_rate_each_in_its_thread_and_the_command_reports_them(
    committed_tenant_factory, tmp_path, capsys
):
    tenant, _ = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        for region, name in enumerate(("north", "south")):
            (tmp_path / name).mkdir()
            for night in range(2):
                with (tmp_path / name / f"night{night}.avro").open("wb") as avro:
                    write_alerts(avro, [make_alert(100 * region + 10 * night + n).packet for n in range(10)])
            AlertStream.objects.create(tenant=tenant, name=name, kind="replay", folder=str(tmp_path / name),
                                       rate_per_s=10)  # fmt: skip
    call_command("consume_alerts", tenant.slug, "--seconds", "8")
    output = capsys.readouterr().out
    assert f"{tenant.slug}/north: 20 stored, 0 duplicates, 0 refused" in output and "south: 20 stored" in output
    with tenant_context(tenant):
        assert Alert.objects.filter(tenant=tenant).count() == 40
        for name in ("north", "south"):
            times = Alert.objects.filter(tenant=tenant, origin__startswith=name).values_list("received_at", flat=True)
            assert (max(times) - min(times)).total_seconds() > 1.5, "20 alerts at 10 a second arrive over 2 s"
        assert set(Alert.objects.filter(tenant=tenant).values_list("origin", flat=True)) == {
            f"{name}:night{night}.avro" for name in ("north", "south") for night in range(2)}  # fmt: skip


def test_a_replay_started_again_goes_on_from_its_first_packet_not_stored(observatory, tmp_path):
    for night in range(2):
        with (tmp_path / f"night{night}.avro").open("wb") as avro:
            write_alerts(avro, [make_alert(900 + 10 * night + n).packet for n in range(10)])
    # Five a second: each packet is a batch of its own, so the first run stops after exactly 13.
    stream = AlertStream.objects.create(tenant=observatory, name="resumed", kind="replay", folder=str(tmp_path),
                                        rate_per_s=5)  # fmt: skip
    first = run_stream(stream, max_alerts=13)  # stopped (a fault, a restart) in the second file
    stream.refresh_from_db()
    rest = run_stream(stream)
    assert (first.stored, rest.stored, rest.duplicates) == (13, 7, 0), "none sent twice, none skipped"
    stream.refresh_from_db()
    assert (stream.replayed_file, stream.replayed_count) == ("night1.avro", 10)
    assert run_stream(stream).handled == 0, "a replay at its end sends nothing more"


def test_a_stream_without_its_source_is_refused_and_a_missing_folder_is_said(observatory):
    with pytest.raises(IntegrityError, match="alert_stream_has_its_source"), transaction.atomic():
        AlertStream.objects.create(tenant=observatory, name="half", kind="kafka", topic="ztf")
    stream = AlertStream(tenant=observatory, name="gone", kind="replay", folder="/nonexistent/alerts")
    stream.save()
    run_stream(stream, seconds=1)
    stream.refresh_from_db()
    assert stream.last_error == "/nonexistent/alerts: no .avro files to replay"


def test_the_consumer_starts_a_stream_an_admin_adds_while_it_runs(committed_tenant_factory, tmp_path, capsys):
    tenant, _ = committed_tenant_factory(sites=[])
    with (tmp_path / "tonight.avro").open("wb") as avro:
        write_alerts(avro, [make_alert(700 + n).packet for n in range(5)])
    running = threading.Thread(target=call_command, args=("consume_alerts", tenant.slug, "--seconds", "6",
                                                          "--refresh", "0.5"))  # fmt: skip
    running.start()
    eventually(lambda: "No enabled alert stream yet" in capsys.readouterr().out or not running.is_alive(), 10,
               "the consumer to say it waits for a stream")  # fmt: skip
    assert running.is_alive(), "the consumer should wait for a stream, not stop"
    with tenant_context(tenant):
        AlertStream.objects.create(tenant=tenant, name="added", kind="replay", folder=str(tmp_path), rate_per_s=100)
    running.join()
    assert f"{tenant.slug}/added: 5 stored" in capsys.readouterr().out
    with tenant_context(tenant):
        assert Alert.objects.filter(tenant=tenant, origin="added:tonight.avro").count() == 5
