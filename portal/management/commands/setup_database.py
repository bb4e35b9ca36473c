"""Prepare the database: pgvector, the app's role, migrations as the owner, grants (none that
change or delete audit entries), and the key that signs the tenant setting.

Run by the launcher on every start and by the one-shot ``migrate`` service in compose.
The app's role must own nothing and must not bypass row-level security, or the tenant
policies would not bind it; this command refuses to go on if it would.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from psycopg import sql

from portal.rls import context_key_pads, keep_append_only


class Command(BaseCommand):
    help = "Create the pgvector extension and the app role, migrate as the owner, and grant the app role access."

    def handle(self, *args, **options):
        if "admin" not in connections:
            raise CommandError("DATABASE_ADMIN_URL is not set: migrations must run as the owner of the tables.")
        app = settings.DATABASES["default"]
        owner = settings.DATABASES["admin"]
        if app["USER"] == owner["USER"]:
            raise CommandError(
                "DATABASE_URL and DATABASE_ADMIN_URL use the same role; the app must connect as a role that owns "
                "no table, or row-level security would not apply to it."
            )
        role = sql.Identifier(app["USER"])
        self._ensure_role(app, owner, role)
        call_command("migrate", database="admin", interactive=False, verbosity=options["verbosity"])
        self._execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(role),
            sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(role),
            # The owner's SECURITY DEFINER functions the migrations make are the app's narrow doors
            # to what only an owner may do (e.g. mlmodels_embedding_index).
            sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(role),
            # The key that signs the tenant setting, from this SECRET_KEY (a new one takes effect
            # at the next start); in a schema the app role cannot read (portal.rls).
            sql.SQL(
                "INSERT INTO arrayscope_private.context_key (id, inner_pad, outer_pad) VALUES (1, {}, {}) "
                "ON CONFLICT (id) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad"
            ).format(*(sql.Literal(pad) for pad in context_key_pads())),
        )
        keep_append_only(connections["admin"].connection, app["USER"])  # the audit log, after the grant above
        if options["verbosity"]:
            self.stdout.write(
                self.style.SUCCESS(f"Database ready; the app connects as {app['USER']!r} under row-level security.")
            )

    def _execute(self, *statements):
        """Run composed SQL on psycopg's own connection, which quotes identifiers itself."""
        admin = connections["admin"]
        admin.ensure_connection()
        for statement in statements:
            admin.connection.execute(statement)

    def _ensure_role(self, app, owner, role):
        admin = connections["admin"]
        admin.ensure_connection()
        row = admin.connection.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", [app["USER"]]
        ).fetchone()
        statements = [sql.SQL("CREATE EXTENSION IF NOT EXISTS vector")]
        if row is None:
            create = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(role)
            if app.get("PASSWORD"):
                create = sql.SQL("{} PASSWORD {}").format(create, sql.Literal(app["PASSWORD"]))
            statements.append(create)
        elif row[0]:
            raise CommandError(
                f"The app role {app['USER']!r} is a superuser or bypasses row-level security; "
                "give the app an ordinary role."
            )
        statements += [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(owner["NAME"]), role),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role),
        ]
        self._execute(*statements)
