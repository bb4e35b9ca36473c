from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mlmodels import hub
from mlmodels.models import MLModel, Visibility
from portal.management.lookups import tenant_named, user_named
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Register a Hugging Face hub repo's model (config.json + model.safetensors, timm's layout) as the next version "
        "of a model, in staging; a model not registered yet is created as the repo's config describes it. The hub is "
        "HF_ENDPOINT, private repos need HF_TOKEN."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("model", help="model name in the registry")
        parser.add_argument("repo", help="hub repo, owner/name")
        parser.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
        parser.add_argument("--task", default=MLModel.Task.MORPHOLOGY, choices=list(MLModel.Task),
                            help="the task of a new model")  # fmt: skip
        parser.add_argument("--public", action="store_true", help="a new model is shared with every observatory")
        parser.add_argument("--user", help="username recorded as the one who pulled it")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        repo, revision = options["repo"], options["revision"]
        with tenant_context(tenant):
            model = MLModel.objects.filter(tenant=tenant, name=options["model"]).first()
            try:
                if model is None:
                    visibility = Visibility.PUBLIC if options["public"] else Visibility.TENANT
                    version = hub.pull_model(tenant, user, name=options["model"], task=options["task"], repo_id=repo,
                                             revision=revision, visibility=visibility)  # fmt: skip
                else:
                    version = hub.pull_version(model, user, repo, revision)
            except (ValueError, ValidationError) as error:
                raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(
            f"{version.model.name} v{version.number} ({version.stage}) from {repo}@{version.hub_revision[:12]}, "
            f"SHA-256 {version.sha256[:16]}…"
        ))  # fmt: skip
