from django.core.management.base import BaseCommand, CommandError

from mlmodels import generation
from mlmodels.registry import RegistryError, usable_version
from portal.management.lookups import tenant_named, user_named
from portal.progress import run_claimed
from portal.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Make a set of synthetic galaxies of one class with a generative model, here and now (the model page and "
        "the API queue the same work on a gpu-batch worker), and judge it against real galaxies: the set is stored "
        "flagged synthetic, with its quality report and whether it passed the gate."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("model", help="a generative model's name, e.g. galaxy-diffusion")
        parser.add_argument("class_name", help="the class to make, e.g. merger")
        parser.add_argument("--count", type=int, default=64, help="how many galaxies")
        parser.add_argument("--model-version", type=int, help="the version's number; default: the production one")
        parser.add_argument("--steps", type=int, default=generation.DEFAULT_STEPS, help="DDIM steps")
        parser.add_argument("--guidance", type=float, default=generation.DEFAULT_GUIDANCE,
                            help="classifier-free guidance, at the steps where a galaxy's layout is decided: 1 is "
                                 "the class alone")  # fmt: skip
        parser.add_argument("--seed", type=int, help="galaxy i starts from the noise of seed + i; default: a new one")
        parser.add_argument("--user", help="username recorded as the one who asked")

    def handle(self, *args, **options):
        tenant, user = tenant_named(options["tenant"]), user_named(options["user"], required=False)
        with tenant_context(tenant):
            try:
                version = usable_version(tenant, options["model"], options["model_version"])
                generated = generation.new_generated_set(
                    tenant, version, user, class_name=options["class_name"], count=options["count"],
                    steps=options["steps"], guidance=options["guidance"], seed=options["seed"],
                )  # fmt: skip
            except (RegistryError, generation.GenerationRefused) as error:
                raise CommandError(str(error)) from error
            try:
                run_claimed(generated.job_id, lambda job: self.make(job, generated))
            except Exception as error:  # the set's job says the same on its page
                raise CommandError(f"Set {generated.pk} failed: {type(error).__name__}: {error}") from error
        distance = generated.report["synthetic_galaxy_distance"]
        said = (f"Set {generated.pk}: {generated.count} synthetic {generated.class_name} galaxies from "
                f"{version.model.name} v{version.number}; synthetic galaxy distance {distance['generated']:.2f} "
                f"against {distance['real']:.2f} real against real.")  # fmt: skip
        if generated.gate == generated.Gate.PASSED:
            self.stdout.write(self.style.SUCCESS(f"{said} Quality gate passed: it may be trained on."))
        else:
            self.stdout.write(self.style.WARNING(f"{said} Quality gate failed; it may not be trained on:"))
            for reason in generated.gate_reasons:
                self.stdout.write(f"  - {reason}")

    def make(self, job, generated):
        return generation.generate_set_job(job, generated, on_progress=self.report)

    def report(self, message):
        self.stdout.write(message)
        self.stdout.flush()
