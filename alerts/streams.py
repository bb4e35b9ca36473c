"""Alert streams into the one ingest path: a broker's Kafka topic, or Avro files replayed at
a steady rate (the embedded default, needing no broker). Each is a ``StreamKind`` named in
``settings.ALERT_STREAM_KINDS``; another kind of source (a broker's HTTP stream, a
survey's own bus) is a class and a settings line.

Kafka offsets are committed only after a batch is stored, so a consumer killed mid-batch
reads those messages again and ingest drops the candidates it already has: none lost, none
twice. A replay keeps where it stands on its stream, in the transaction that stores each
batch, so one stopped at any moment (Redis or PostgreSQL gone, the consumer killed) goes on
from its first packet not stored. A broker that cannot be reached, or a message that is not
Avro, is said on the stream (``last_error``) and in a dead letter, once per problem rather
than once per retry, and the consumer carries on as librdkafka does: reconnecting.
"""

import io
import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .avro import AvroUnreadable, read_alerts
from .models import AlertStream, DeadLetter, Source
from .services import ingest_packets

logger = logging.getLogger(__name__)  # librdkafka's own log lines go here, not to stderr
KAFKA_BATCH = 500
POLL_SECONDS = 0.5
REPLAY_TICK_SECONDS = 0.1


@dataclass
class StreamProgress:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0

    @property
    def handled(self):
        return self.stored + self.duplicates + self.refused


def run_stream(stream, *, seconds=None, max_alerts=None, on_batch=None, stop=None):
    """Consume ``stream`` until ``seconds`` have passed, ``max_alerts`` packets were
    handled or the ``stop`` event is set (None: no such limit); ``on_batch(progress,
    result)`` follows each stored batch."""
    deadline = None if seconds is None else time.monotonic() + seconds
    progress = StreamProgress()

    def more():
        return (
            (deadline is None or time.monotonic() < deadline)
            and (max_alerts is None or progress.handled < max_alerts)
            and (stop is None or not stop.is_set())
        )

    def store(records, origin, **position):
        """Store a batch, and with it (one transaction) where a replay stands (``position``), so a
        replay stopped at any moment goes on from its first packet not stored."""
        with transaction.atomic():
            result = ingest_packets(stream.tenant, records, source=stream.source, origin=origin)
            AlertStream.objects.filter(pk=stream.pk).update(
                received=F("received") + len(records), last_received_at=timezone.now(), last_error="", **position
            )
        progress.stored += len(result.alerts)
        progress.duplicates += result.duplicates
        progress.refused += len(result.refused)
        if on_batch is not None:
            on_batch(progress, result)
        return result

    stream.stream_kind.consume(stream, more, store, progress)
    return progress


class StreamKind(ABC):
    """A kind of alert stream: how its packets are read, and how what it stores is labelled."""

    label = ""  # as the admin lists it: "Kafka topic"
    source = Source.STREAM  # what its alerts and dead letters record as their source
    ends = False  # whether a run ends by itself once everything is read (a replay), not only when stopped

    def origin(self, stream):
        """How its alerts and dead letters name where they came from."""
        return stream.name

    @abstractmethod
    def consume(self, stream, more, store, progress):
        """Read packets while ``more()`` and hand each batch to ``store(records, origin,
        **position)`` (``position``: AlertStream fields saying where it stands, stored with
        the batch); a packet that cannot be read adds to ``progress.refused``."""


class KafkaTopic(StreamKind):
    label = "Kafka topic"

    def origin(self, stream):
        return f"{stream.name}:{stream.topic}"

    def consume(self, stream, more, store, progress):
        _consume_kafka(stream, more, store, progress)


class ReplayFolder(StreamKind):
    label, source, ends = "Avro files replayed", Source.FILE, True

    def consume(self, stream, more, store, progress):
        _replay(stream, more, store, progress)


def _consume_kafka(stream, more, store, progress):
    from confluent_kafka import Consumer, KafkaError  # only the consumer process needs librdkafka

    problems = []
    consumer = Consumer({
        "bootstrap.servers": stream.bootstrap_servers, "group.id": f"arrayscope-{stream.tenant_id}-{stream.name}",
        "enable.auto.commit": False, "auto.offset.reset": "earliest", "error_cb": problems.append,
        "logger": logger, "log.connection.close": False,
        **{key: _setting(value) for key, value in stream.options.items()},
    })  # fmt: skip
    consumer.subscribe([stream.topic])
    try:
        while more():
            messages = consumer.consume(num_messages=KAFKA_BATCH, timeout=POLL_SECONDS)
            for problem in problems:
                _stream_problem(stream, _kafka_summary(stream, problem, KafkaError), problem.str())
            problems.clear()
            records = []
            for message in messages:
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        error = message.error()
                        _stream_problem(stream, f"topic {stream.topic}: {error.name()}", error.str())
                    continue
                where = f"{stream.origin}[{message.partition()}]@{message.offset()}"
                records += _records_of(stream, io.BytesIO(message.value() or b""), where, progress)
            if records:
                store(records, stream.origin)
            if messages:
                consumer.commit(asynchronous=False)  # after the batch is stored: at least once
    finally:
        consumer.close()


def _replay(stream, more, store, progress):
    """The folder's .avro files in name order, at ``rate_per_s`` packets a second: packets
    due within the next tick go together, then the replay sleeps until the next is due. It
    starts where the stream stands (``replayed_file``, ``replayed_count``): a replay started
    again after a fault or a restart sends on, not the same night from its start."""
    folder = Path(stream.folder)
    files = sorted(folder.glob("*.avro")) if folder.is_dir() else []
    if not files:
        _stream_problem(stream, f"{folder}: no .avro files to replay")
        return
    started, count = time.monotonic(), 0
    for path in (path for path in files if path.name >= stream.replayed_file):
        origin, pending, done = f"{stream.name}:{path.name}", [], 0
        skip = stream.replayed_count if path.name == stream.replayed_file else 0
        with path.open("rb") as avro:
            for done, record in enumerate(_records_of(stream, avro, origin, progress), start=1):
                if done <= skip:
                    continue
                wait = started + count / stream.rate_per_s - time.monotonic()
                if wait > REPLAY_TICK_SECONDS or len(pending) >= KAFKA_BATCH:
                    if pending:
                        store(pending, origin, replayed_file=path.name, replayed_count=done - 1)
                        pending = []
                    if not more():
                        return
                    time.sleep(max(0.0, started + count / stream.rate_per_s - time.monotonic()))
                pending.append(record)
                count += 1
        if pending:
            store(pending, origin, replayed_file=path.name, replayed_count=done)
        if not more():
            return


def _records_of(stream, fileobj, where, progress):
    """The packets of one Avro container; where it breaks, a dead letter and what came before."""
    try:
        yield from read_alerts(fileobj)
    except AvroUnreadable as error:
        progress.refused += 1
        DeadLetter.objects.create(tenant=stream.tenant, source=stream.source, origin=where[:200],
                                  reason=f"{where}: {error}", payload=b"")  # fmt: skip


def _kafka_summary(stream, problem, KafkaError):
    """One wording per kind of problem, so a broker down for an hour is one dead letter."""
    if problem.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
        return f"cannot reach the Kafka brokers at {stream.bootstrap_servers}"
    return f"the Kafka brokers at {stream.bootstrap_servers} answered {problem.name()}"


def _stream_problem(stream, summary, detail=""):
    """Say it on the stream and in a dead letter, unless the stream already says it."""
    stream.refresh_from_db(fields=["last_error"])
    if stream.last_error.startswith(summary):
        return
    reason = f"{summary} ({detail})" if detail else summary
    stream.last_error, stream.last_error_at = reason, timezone.now()
    stream.save(update_fields=["last_error", "last_error_at"])
    DeadLetter.objects.create(tenant=stream.tenant, source=stream.source, origin=stream.origin[:200], reason=reason)


def _setting(value):
    """A stream option; ``env:NAME`` reads the environment, so passwords stay out of the database."""
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"the stream's settings read {name} from the environment, and it is not set")
        return os.environ[name]
    return value
