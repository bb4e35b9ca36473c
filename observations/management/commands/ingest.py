from collections import Counter

from django.core.management.base import BaseCommand

from observations.ingest import FITS_SUFFIXES, ingest_many
from portal.management.files import files_under, progress
from portal.management.lookups import tenant_named, user_named
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = "Ingest FITS frames (files or folders) into a tenant; reports every file and carries on past bad ones."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--user", help="username recorded as the ingester")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        files = list(files_under(options["paths"], FITS_SUFFIXES))
        counts = Counter()
        with tenant_context(tenant):
            results = ingest_many(tenant, user, ((path.name, path.read_bytes) for path in files))
            for path, result in progress(zip(files, results), len(files)):
                counts[result.status] += 1
                line = f"{result.status:9} {path}" + (f": {result.reason}" if result.reason else "")
                self.stdout.write(line)
        summary = ", ".join(f"{counts[status]} {status}" for status in ("created", "duplicate", "rejected"))
        self.stdout.write(self.style.SUCCESS(f"{len(files)} files: {summary}."))
