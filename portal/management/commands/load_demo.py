from django.core.management.base import BaseCommand

from portal.demo import load_demo


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo tenants, their users, sites and telescopes. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="password for the demo users")

    def handle(self, *args, **options):
        tenants = load_demo(options["password"])
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS(f"Demo data ready: {', '.join(t.slug for t in tenants)}."))
