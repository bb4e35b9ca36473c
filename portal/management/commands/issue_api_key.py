from django.core.management.base import BaseCommand, CommandError

from portal import audit, services
from portal.api_auth import api_parts
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
        parser.add_argument(
            "--scope",
            choices=ApiKeyScope.values,
            default=ApiKeyScope.READ,
            help="what the key may do in every part of the API",
        )
        parser.add_argument(
            "--app-scope",
            action="append",
            default=[],
            metavar="PART=SCOPE",
            help=f"what it may do in one part instead ({', '.join(api_parts())}), e.g. alerts=write",
        )

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["username"])
        app_scopes = dict(_part_scope(text) for text in options["app_scope"])
        with tenant_context(tenant, user):
            if not Membership.objects.filter(tenant=tenant, user=user).exists():
                raise CommandError(f"{user} is not a member of {tenant.slug}.")
            _, plain = services.issue_api_key(tenant, user, name=options["name"], scope=options["scope"],
                                              app_scopes=app_scopes, origin=audit.Origin(Where.COMMAND))  # fmt: skip
        self.stdout.write(plain)


def _part_scope(text):
    part, _, scope = text.partition("=")
    if part not in api_parts():
        parts = ", ".join(api_parts())
        raise CommandError(f"--app-scope {text}: no part of the API is called {part!r}; there are {parts}")
    if scope not in ApiKeyScope.values:
        raise CommandError(f"--app-scope {text}: the scope must be one of {', '.join(ApiKeyScope.values)}")
    return part, scope
