import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from alerts.models import AlertStream
from alerts.streams import run_stream
from portal.management.lookups import tenant_named
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Feed an observatory's alert streams (Kafka topics, replayed Avro folders) into the portal until stopped, "
        "or for --seconds; each stream in its own thread, each batch reported as it is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("--stream", action="append", dest="streams", help="stream name (default: all enabled)")
        parser.add_argument("--seconds", type=float, help="stop after this long (default: run until Ctrl-C)")

    def handle(self, *args, **options):
        tenant = tenant_named(options["tenant"])
        with tenant_context(tenant):
            streams = AlertStream.objects.filter(tenant=tenant, enabled=True)
            if options["streams"]:
                streams = streams.filter(name__in=options["streams"])
            streams = list(streams)
        if not streams:
            named = " by those names" if options["streams"] else ""
            raise CommandError(f"{tenant.name} has no enabled alert stream{named}; add one in the admin")
        threads = [threading.Thread(target=self.consume, args=(tenant, stream, options["seconds"]), daemon=True)
                   for stream in streams]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def consume(self, tenant, stream, seconds):
        try:
            with tenant_context(tenant):
                progress = run_stream(stream, seconds=seconds,
                                      on_batch=lambda progress, result: self.report(stream, progress))  # fmt: skip
            self.stdout.write(self.style.SUCCESS(f"{stream.name}: {self.summary(progress)}"))
        finally:
            connection.close()  # each thread holds its own database connection

    def report(self, stream, progress):
        self.stdout.write(f"{stream.name}: {self.summary(progress)}")
        self.stdout.flush()

    @staticmethod
    def summary(progress):
        return f"{progress.stored} stored, {progress.duplicates} duplicates, {progress.refused} refused"
