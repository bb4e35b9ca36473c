from django.core.management.base import BaseCommand, CommandError

from mlmodels import registry, services
from mlmodels.models import MLModel
from mlmodels.synthetic_galaxies import KINDS
from portal.management.lookups import tenant_named, user_named
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Train the next version of a galaxy-morphology model on synthetic galaxies, here and now "
        "(the page queues the same work on a gpu worker); creates the model the first time."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("model", help="model name, e.g. galaxy-morphology")
        parser.add_argument("--architecture", default="convnext_atto", help="a timm model name (random weights)")
        parser.add_argument("--galaxies", type=int, default=3000)
        parser.add_argument("--epochs", type=int, default=15)
        parser.add_argument("--size", type=int, default=64, help="cutout size in pixels (new models only)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--promote", action="store_true", help="make the new version the production one")
        parser.add_argument("--user", help="username recorded as the trainer")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        with tenant_context(tenant):
            model = MLModel.objects.filter(tenant=tenant, name=options["model"]).first() or registry.create_model(
                tenant, user, name=options["model"], task=MLModel.Task.MORPHOLOGY, architecture=options["architecture"],
                class_names=KINDS, input_spec={"size": options["size"], "bands": ["g", "r", "z"],
                                               "normalisation": "asinh-noise"},
            )  # fmt: skip
            try:
                version = services.train_version(model, user, galaxies=options["galaxies"], epochs=options["epochs"],
                                                 seed=options["seed"], on_epoch=self.report)  # fmt: skip
            except ValueError as error:
                raise CommandError(str(error)) from error
            if options["promote"]:
                registry.promote(version)
        self.stdout.write(self.style.SUCCESS(
            f"{model.name} v{version.number} ({version.stage}): test accuracy {version.metrics['accuracy']:.3f} "
            f"on {version.metrics['test_examples']} held-out galaxies."
        ))  # fmt: skip

    def report(self, row):
        line = (f"epoch {row['epoch']:3d}  training loss {row['train_loss']:.3f}  validation loss {row['val_loss']:.3f}"
                f"  validation accuracy {row['val_accuracy']:.3f}")  # fmt: skip
        self.stdout.write(line)
        self.stdout.flush()
