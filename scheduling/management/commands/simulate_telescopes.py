import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from portal import services
from portal.models import ApiKey, Membership, Role, Tenant
from portal.tenancy import tenant_context
from scheduling.simulator import SimulatedTelescopes

KEY_NAME = "simulated telescopes"


class Command(BaseCommand):
    help = (
        "Work every telescope's queue of an observatory through the API, faster than real time, as the demo's "
        "telescopes do: a read-write key of its first admin is issued for it (earlier ones revoked)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the observatory's slug")
        parser.add_argument("--url", required=True, help="the running portal, e.g. http://127.0.0.1:8000")
        parser.add_argument("--speed", type=float, default=60.0, help="times faster than real time (default 60)")
        parser.add_argument("--failure-rate", type=float, default=0.1, help="share of observations lost to clouds")
        parser.add_argument("--every", type=float, default=2.0, help="seconds between rounds (default 2)")
        parser.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (default: never)")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no observatory {options['tenant']!r}")
        with tenant_context(tenant):
            admin = Membership.objects.filter(tenant=tenant, role=Role.ADMIN).order_by("pk").first()
            if admin is None:
                raise CommandError(f"{tenant} has no admin to issue the telescopes' key")
            for earlier in ApiKey.objects.filter(tenant=tenant, name=KEY_NAME, revoked_at__isnull=True):
                services.revoke_api_key(earlier)
            _, key = services.issue_api_key(tenant, admin.user, name=KEY_NAME, scope="write")
        telescopes = SimulatedTelescopes(options["url"], key, speed=options["speed"],
                                         failure_rate=options["failure_rate"], rng=np.random.default_rng())  # fmt: skip
        rounds = 0
        while not options["rounds"] or rounds < options["rounds"]:
            for telescope, did in telescopes.tick().items():
                if did in ("started", "completed", "failed"):
                    self.stdout.write(f"telescope {telescope}: {did}")
            rounds += 1
            time.sleep(options["every"])
