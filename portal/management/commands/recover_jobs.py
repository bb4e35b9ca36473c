"""Queue again the jobs whose worker stopped; fail, with the reason, those that cannot resume.

The launcher runs it with ``--stale-minutes 0`` before it starts any worker (a job still
"running" then has none). Beat runs the same every five minutes for jobs silent for 30
(``portal.tasks.recover_stale_jobs``): a live job reports far more often.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand

from portal.progress import recover_jobs


class Command(BaseCommand):
    help = "Queue again the jobs whose worker stopped; fail those that cannot resume."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-minutes", type=float, default=30,
            help="a waiting or running job with no report for this long has lost its worker (default 30)",
        )  # fmt: skip

    def handle(self, *args, **options):
        requeued, failed = recover_jobs(timedelta(minutes=options["stale_minutes"]))
        for job in requeued:
            self.stdout.write(f"Queued again: {job.title} (job {job.pk}, {job.tenant.slug})")
        for job in failed:
            self.stdout.write(f"Failed: {job.title} (job {job.pk}, {job.tenant.slug}): its worker stopped")
