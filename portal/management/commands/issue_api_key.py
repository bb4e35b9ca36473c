from django.core.management.base import BaseCommand, CommandError

from portal import audit, services
from portal.management.lookups import tenant_named, user_named
from portal.models import Membership, Where
from portal.models.tenancy import ApiKeyScope
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = "Issue an API key for a tenant member and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--scope", choices=ApiKeyScope.values, default=ApiKeyScope.READ)

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["username"])
        with tenant_context(tenant, user):
            if not Membership.objects.filter(tenant=tenant, user=user).exists():
                raise CommandError(f"{user} is not a member of {tenant.slug}.")
            _, plain = services.issue_api_key(tenant, user, name=options["name"], scope=options["scope"],
                                              origin=audit.Origin(Where.COMMAND))  # fmt: skip
        self.stdout.write(plain)
