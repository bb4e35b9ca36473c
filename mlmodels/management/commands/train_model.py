from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mlmodels import services
from mlmodels.models import MLModel
from mlmodels.training_sets import source_for
from portal import audit
from portal.management.lookups import tenant_named, user_named
from portal.models import Where
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Train the next version of a model on its task's examples (synthetic galaxies for morphology, frames for "
        "frame quality; a vote export for vote fractions), here and now (the page queues the same work on a gpu "
        "worker); creates the model the first time."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("model", help="model name, e.g. galaxy-morphology or frame-quality")
        parser.add_argument("--task", default=MLModel.Task.MORPHOLOGY, choices=list(settings.TRAINING_SET_SOURCES),
                            help="the task of a new model")  # fmt: skip
        parser.add_argument("--architecture", help="a timm model name (random weights); default: the task's usual "
                                                   "network (convnext_atto for images)")  # fmt: skip
        parser.add_argument("--examples", "--galaxies", "--frames", dest="examples", type=int, default=3000,
                            help="how many synthetic examples to make (split 70/15/15)")  # fmt: skip
        parser.add_argument("--dataset", type=int, help="for a task that learns from stored sets (vote_fractions): "
                                                        "the set's id, as the model page lists them")  # fmt: skip
        parser.add_argument("--epochs", type=int, default=15)
        parser.add_argument("--focus", help="a generator only: the class to draw in most training examples (e.g. "
                                            "merger, the rare one you will ask it for)")  # fmt: skip
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--promote", action="store_true", help="make the new version the production one")
        parser.add_argument("--user", help="username recorded as the trainer")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        with tenant_context(tenant):
            model = MLModel.objects.filter(tenant=tenant, name=options["model"]).first()
            try:
                model = model or services.create_task_model(tenant, user, name=options["model"],
                                                            task=options["task"], dataset=options["dataset"],
                                                            architecture=options["architecture"])  # fmt: skip
                version = services.train_version(model, user, examples=options["examples"], epochs=options["epochs"],
                                                 seed=options["seed"], dataset=options["dataset"],
                                                 on_epoch=self.report, focus=options["focus"])  # fmt: skip
            except (ValueError, ValidationError) as error:
                raise CommandError(str(error)) from error
            if options["promote"]:
                version, job = services.promote_version(version, user, audit.Origin(Where.COMMAND, user))
        _, said = services.headline_score(version.metrics, source_for(model.task).noun)
        self.stdout.write(self.style.SUCCESS(f"{model.name} v{version.number} ({version.stage}): {said}."))
        if options["promote"] and job is not None:
            self.stdout.write(f"A gpu worker now classifies what it has not seen yet (job {job.pk}).")

    def report(self, row):
        self.stdout.write(f"epoch {row['epoch']:3d}: {services.describe_epoch(row)}")
        self.stdout.flush()
