from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal import audit
from portal.models import Where
from portal.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant (an observatory or collaboration) with its first admin."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="short name used in URLs: /t/<slug>/")
        parser.add_argument("name")
        parser.add_argument("--admin", required=True, help="username of the first admin (created if new)")
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        try:
            tenant, password = create_tenant(
                slug=options["slug"],
                name=options["name"],
                admin_username=options["admin"],
                admin_email=options["email"],
                origin=audit.Origin(Where.COMMAND),
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(f"Created {tenant.name} at /t/{tenant.slug}/ with admin {options['admin']}.")
        )
        if password:
            self.stdout.write(f"Temporary password for {options['admin']}: {password}")
