from collections import Counter

from django.core.management.base import BaseCommand

from alerts.models import Source
from alerts.services import ingest_avro
from portal.management.files import files_under, progress
from portal.management.lookups import tenant_named
from portal.tenancy import tenant_context


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
        files = list(files_under(options["paths"], (".avro",)))
        counts = Counter()
        with tenant_context(tenant):
            for path in progress(files, len(files)):
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
        summary = (f"{counts['stored']} alerts stored, {counts['duplicates']} duplicates, {counts['refused']} packets "
                   f"refused, {counts['unreadable']} files unreadable")  # fmt: skip
        self.stdout.write(self.style.SUCCESS(f"{len(files)} files: {summary}."))
