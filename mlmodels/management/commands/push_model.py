from django.core.management.base import BaseCommand, CommandError

from mlmodels import hub, registry
from portal.management.lookups import tenant_named
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Push a model version's artifact (checked against its checksum) and a model card to a Hugging Face hub repo, "
        "creating the repo, private unless --public, when it is not there. Needs HF_TOKEN with write access."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("model", help="model name in the registry")
        parser.add_argument("repo", help="hub repo, owner/name")
        parser.add_argument("--model-version", dest="number", type=int, help="version number (default: production)")
        parser.add_argument("--public", action="store_true", help="create a new repo as public")

    def handle(self, *args, **options):
        tenant = tenant_named(options["tenant"])
        with tenant_context(tenant):
            try:
                version = registry.usable_version(tenant, options["model"], options["number"])
                if version.model.tenant_id != tenant.pk:
                    raise registry.RegistryError(f"{version.model.name} belongs to {version.model.tenant.name}")
                hub.push_version(version, options["repo"], private=not options["public"])
            except registry.RegistryError as error:
                raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(
            f"{version.model.name} v{version.number} is at {version.hub_repo}@{version.hub_revision[:12]}"
        ))  # fmt: skip
