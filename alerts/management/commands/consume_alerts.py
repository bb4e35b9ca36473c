import threading
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from redis import RedisError

from alerts.models import AlertStream
from alerts.streams import run_stream
from portal.management.lookups import tenant_named
from portal.models import Tenant
from portal.tenancy import tenant_context

# A stream stopped by an error (Redis or PostgreSQL gone) resumes after a pause that doubles
# while it keeps failing, and is back to the first once it has run for a minute.
FIRST_PAUSE_S = 1
LONGEST_PAUSE_S = 30
HEALTHY_AFTER_S = 60


@dataclass
class Consumer:
    stream: AlertStream
    stop: threading.Event
    thread: threading.Thread | None = None
    started_at: float = 0.0
    failed: bool = False


class Command(BaseCommand):
    help = (
        "Feed observatories' alert streams (Kafka topics, replayed Avro folders) into the portal, each stream in its "
        "own thread, each batch reported as it is stored. Runs until stopped (or for --seconds), and every --refresh "
        "seconds starts the streams an admin has added or enabled and stops the ones disabled or deleted. A stream "
        "that stops on an error (Redis or PostgreSQL gone) resumes where it stood once they are back."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenants", nargs="*", metavar="tenant", help="tenant slugs (default: every observatory)")
        parser.add_argument("--stream", action="append", dest="streams", help="stream name (default: all enabled)")
        parser.add_argument("--seconds", type=float, help="stop after this long (default: run until Ctrl-C)")
        parser.add_argument("--refresh", type=float, default=30, help="seconds between looks for changed streams")

    def handle(self, *args, **options):
        tenants = [tenant_named(slug) for slug in options["tenants"]] or None
        deadline = None if options["seconds"] is None else time.monotonic() + options["seconds"]
        running, played = {}, set()  # stream pk -> Consumer; replays that reached their end
        resume_at, pauses = {}, {}  # stream pk -> when a stream stopped by an error starts again; its next pause
        said_none = False
        # Set by a stream's thread as it ends, so a stream stopped by an error is seen at once and
        # resumes after its pause, not after the rest of a --refresh wait.
        self.ended = threading.Event()
        try:
            while deadline is None or time.monotonic() < deadline:
                self.ended.clear()  # before the threads are looked at: one ending after this wakes the wait below
                wanted = self.enabled_streams(tenants, options["streams"])
                if wanted is not None and not wanted and not running and not said_none:
                    self.stdout.write("No enabled alert stream yet; add one in the admin. Looking again shortly.")
                    said_none = True
                for pk, consumer in list(running.items()):
                    if wanted is not None and (pk not in wanted or wanted[pk].settings != consumer.stream.settings):
                        consumer.stop.set()  # disabled, deleted or changed: restarted below once it has ended
                    if consumer.thread.is_alive():
                        continue
                    del running[pk]
                    if consumer.failed:
                        if time.monotonic() - consumer.started_at >= HEALTHY_AFTER_S:
                            pauses[pk] = FIRST_PAUSE_S
                        resume_at[pk] = time.monotonic() + pauses.setdefault(pk, FIRST_PAUSE_S)
                        self.stderr.write(f"{self.name_of(consumer.stream)}: resuming in {pauses[pk]} s")
                        pauses[pk] = min(2 * pauses[pk], LONGEST_PAUSE_S)
                    elif consumer.stream.stream_kind.ends and not consumer.stop.is_set():
                        played.add(pk)
                for pk, stream in (wanted or {}).items():
                    if pk not in running and pk not in played and resume_at.get(pk, 0) <= time.monotonic():
                        seconds = None if deadline is None else max(0.0, deadline - time.monotonic())
                        running[pk] = self.start(stream, seconds)
                        resume_at.pop(pk, None)
                self.stdout.flush()
                # While a stream waits to resume, or the database to answer, look every second.
                wait = FIRST_PAUSE_S if resume_at or wanted is None else options["refresh"]
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                self.ended.wait(max(0.0, wait))
        finally:
            for consumer in running.values():
                consumer.stop.set()
            for consumer in running.values():
                consumer.thread.join(timeout=10)

    def start(self, stream, seconds):
        consumer = Consumer(stream, threading.Event())
        consumer.thread = threading.Thread(target=self.consume, args=(consumer, seconds), daemon=True)
        consumer.started_at = time.monotonic()
        consumer.thread.start()
        self.stdout.write(f"{self.name_of(stream)}: started ({stream.get_kind_display()})")
        return consumer

    def enabled_streams(self, tenants, names):
        """{pk: stream} of the enabled streams; None while the database cannot be asked."""
        try:
            return self._enabled_streams(tenants, names)
        except (DatabaseError, RedisError) as error:
            connection.close()  # a new one at the next look
            self.stderr.write(f"Cannot look for alert streams ({error}); looking again in a second.")
            return None

    def _enabled_streams(self, tenants, names):
        streams = {}
        for tenant in tenants or Tenant.objects.all():
            with tenant_context(tenant):
                enabled = AlertStream.objects.filter(tenant=tenant, enabled=True).select_related("tenant")
                if names:
                    enabled = enabled.filter(name__in=names)
                streams.update({stream.pk: stream for stream in enabled})
        return streams

    def consume(self, consumer, seconds):
        stream = consumer.stream
        try:
            with tenant_context(stream.tenant):
                progress = run_stream(stream, seconds=seconds, stop=consumer.stop,
                                      on_batch=lambda progress, result: self.report(stream, progress))  # fmt: skip
            self.stdout.write(self.style.SUCCESS(f"{self.name_of(stream)}: {self.summary(progress)}"))
        except Exception as error:  # said here; the stream resumes after a pause (handle)
            consumer.failed = True
            self.stderr.write(f"{self.name_of(stream)} stopped: {error}")
        finally:
            connection.close()  # each thread holds its own database connection
            self.ended.set()

    def report(self, stream, progress):
        self.stdout.write(f"{self.name_of(stream)}: {self.summary(progress)}")
        self.stdout.flush()

    @staticmethod
    def name_of(stream):
        return f"{stream.tenant.slug}/{stream.name}"

    @staticmethod
    def summary(progress):
        return f"{progress.stored} stored, {progress.duplicates} duplicates, {progress.refused} refused"
