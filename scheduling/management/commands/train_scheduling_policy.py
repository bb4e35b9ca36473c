from django.core.management.base import BaseCommand

from scheduling.planners.learned import policy_path, save_weights, train


class Command(BaseCommand):
    help = "Train the learned planner's policy on simulated nights and keep it (SCHEDULING_PLANNER=learned uses it)."

    def add_arguments(self, parser):
        parser.add_argument("--nights", type=int, default=30, help="simulated nights to learn from (default 30)")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        def progress(done, of, mean):
            self.stdout.write(f"\r[{'#' * (30 * done // of):<30}] night {done}/{of}, mean priority-hours {mean:.0f}",
                              ending="")  # fmt: skip
            self.stdout.flush()

        weights = train(nights=options["nights"], seed=options["seed"], progress=progress)
        save_weights(weights)
        self.stdout.write(f"\nThe policy is kept in {policy_path()}.")
