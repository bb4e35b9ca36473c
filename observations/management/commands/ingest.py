import sys
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from observations.ingest import FITS_SUFFIXES, ingest_many
from portal.management.lookups import tenant_named, user_named
from portal.tenancy import tenant_context


def fits_files(paths):
    """The FITS files named, and those found (recursively) in the folders named, in order."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(FITS_SUFFIXES))
        elif path.exists():
            yield path
        else:
            raise CommandError(f"{path} does not exist.")


class Command(BaseCommand):
    help = "Ingest FITS frames (files or folders) into a tenant; reports every file and carries on past bad ones."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--user", help="username recorded as the ingester")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        files = list(fits_files(options["paths"]))
        counts = Counter()
        with tenant_context(tenant):
            results = ingest_many(tenant, user, ((path.name, path.read_bytes) for path in files))
            for done, (path, result) in enumerate(zip(files, results), start=1):
                counts[result.status] += 1
                line = f"{result.status:9} {path}" + (f": {result.reason}" if result.reason else "")
                self.stdout.write(line)
                if sys.stderr.isatty():
                    bar = "#" * (30 * done // len(files))
                    sys.stderr.write(f"\r[{bar:<30}] {done}/{len(files)}")
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        summary = ", ".join(f"{counts[status]} {status}" for status in ("created", "duplicate", "rejected"))
        self.stdout.write(self.style.SUCCESS(f"{len(files)} files: {summary}."))
