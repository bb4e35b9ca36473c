import sys
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from alerts.models import Source
from alerts.services import ingest_avro
from portal.management.lookups import tenant_named
from portal.tenancy import tenant_context


def avro_files(paths):
    """The .avro files named, and those found (recursively) in the folders named, in order."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(".avro"))
        elif path.exists():
            yield path
        else:
            raise CommandError(f"{path} does not exist.")


class Command(BaseCommand):
    help = (
        "Ingest alert packets from Avro container files (files or folders of .avro), as brokers hand them out: "
        "ZTF's and Rubin's schemas. Reports every file and every refused packet, and carries on past bad ones; a "
        "file that is empty, not Avro or cut short stores nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("paths", nargs="+")

    def handle(self, *args, **options):
        tenant = tenant_named(options["tenant"])
        files = list(avro_files(options["paths"]))
        counts = Counter()
        with tenant_context(tenant):
            for done, path in enumerate(files, start=1):
                with path.open("rb") as avro:
                    result = ingest_avro(tenant, avro, source=Source.FILE, origin=path.name)
                counts.update(stored=len(result.alerts), duplicates=result.duplicates, refused=len(result.refused),
                              unreadable=bool(result.unreadable))  # fmt: skip
                if result.unreadable:
                    self.stdout.write(f"{'refused':9} {result.unreadable}")
                else:
                    status = "stored" if result.alerts else "duplicate" if result.duplicates else "refused"
                    self.stdout.write(f"{status:9} {path}: {len(result.alerts)} stored, {result.duplicates} "
                                      f"duplicates, {len(result.refused)} refused")  # fmt: skip
                for index, reason in result.refused:
                    self.stdout.write(f"          packet {index}: {reason}")
                if sys.stderr.isatty():
                    bar = "#" * (30 * done // len(files))
                    sys.stderr.write(f"\r[{bar:<30}] {done}/{len(files)}")
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        summary = (f"{counts['stored']} alerts stored, {counts['duplicates']} duplicates, {counts['refused']} packets "
                   f"refused, {counts['unreadable']} files unreadable")  # fmt: skip
        self.stdout.write(self.style.SUCCESS(f"{len(files)} files: {summary}."))
