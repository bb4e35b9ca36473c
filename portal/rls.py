"""Row-level security for tenant tables, as a migration operation.

Every table of a ``TenantOwned`` model gets a policy that shows and accepts only rows of
the tenant in ``app.tenant_id`` (see ``portal.tenancy``). The app's database role owns no
table, so the policy binds it even when a query forgets its tenant filter. ``readable_when``
adds an SQL condition under which other rows may be *read* (never written): public data,
a user's own memberships, the one API key being checked.

The app role may set any ``app.*`` setting itself, so the policies do not trust them bare:
they read them through ``arrayscope_context()``, which returns a value only when
``app.context_sig`` is the HMAC of all three settings and this connection's backend pid under
a key the app role cannot read (schema ``arrayscope_private``, written from ``SECRET_KEY`` by
``setup_database``). A SQL injection can still set the settings, but not sign them: it sees
no tenant's rows, not another tenant's. A signature read from another connection (in
``pg_stat_activity``) names that connection's pid, so it is worth nothing in this one.
"""

import functools
import hashlib
import hmac

from django.conf import settings
from django.db.migrations.operations.base import Operation

CURRENT_TENANT = "(SELECT public.arrayscope_context('tenant')::bigint)"
CURRENT_USER = "(SELECT public.arrayscope_context('user')::bigint)"
CURRENT_KEY_PREFIX = "(SELECT public.arrayscope_context('key'))"

# HMAC-SHA256 (RFC 2104) spelled with PostgreSQL's own sha256(): pgcrypto is not in every build.
# The key's inner and outer pads are stored already XORed, so the function needs no bytea XOR.
SIGNED_CONTEXT_SQL = [
    "CREATE SCHEMA IF NOT EXISTS arrayscope_private",
    "REVOKE ALL ON SCHEMA arrayscope_private FROM PUBLIC",
    "CREATE TABLE IF NOT EXISTS arrayscope_private.context_key ("
    " id smallint PRIMARY KEY CHECK (id = 1), inner_pad bytea NOT NULL, outer_pad bytea NOT NULL)",
    """CREATE OR REPLACE FUNCTION public.arrayscope_context(part text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
      SELECT CASE part WHEN 'tenant' THEN c.tenant WHEN 'user' THEN c.member WHEN 'key' THEN c.key_prefix END
      FROM (SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant,
                   NULLIF(current_setting('app.user_id', true), '') AS member,
                   NULLIF(current_setting('app.api_key_prefix', true), '') AS key_prefix,
                   current_setting('app.context_sig', true) AS signature) AS c,
           arrayscope_private.context_key AS k
      WHERE c.signature = encode(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
              concat_ws('|', pg_backend_pid(), coalesce(c.tenant, ''), coalesce(c.member, ''),
                        coalesce(c.key_prefix, '')), 'UTF8'))), 'hex')
    $$""",
]


@functools.cache
def _context_key():
    """A key of its own, derived from SECRET_KEY: the database never holds SECRET_KEY itself."""
    return hmac.new(settings.SECRET_KEY.encode(), b"arrayscope row-level security context", hashlib.sha256).digest()


def context_key_pads():
    """(inner, outer) HMAC pads of the context key, as ``arrayscope_context()`` reads them."""
    block = _context_key().ljust(hashlib.sha256().block_size, b"\0")
    return bytes(byte ^ 0x36 for byte in block), bytes(byte ^ 0x5C for byte in block)


def sign_context(backend_pid, tenant_id="", user_id="", key_prefix=""):
    """The ``app.context_sig`` that makes these settings count on the connection with this pid."""
    message = "|".join(str(part) for part in (backend_pid, tenant_id, user_id, key_prefix)).encode()
    return hmac.new(_context_key(), message, hashlib.sha256).hexdigest()


def create_signed_context(schema_editor):
    """The function the policies call (and the key table it reads); idempotent, so each policy
    can make sure it exists, whichever migration creates the first policy."""
    for statement in SIGNED_CONTEXT_SQL:
        schema_editor.execute(statement)


class TenantRowLevelSecurity(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name, readable_when=None):
        self.model_name = model_name
        self.readable_when = readable_when

    def deconstruct(self):
        kwargs = {"model_name": self.model_name}
        if self.readable_when:
            kwargs["readable_when"] = self.readable_when
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label, state):
        pass

    def _table(self, app_label, state):
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = schema_editor.quote_name(self._table(app_label, to_state))
        create_signed_context(schema_editor)
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY tenant_rows ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
        if self.readable_when:
            schema_editor.execute(f"CREATE POLICY readable_rows ON {table} FOR SELECT USING ({self.readable_when})")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = schema_editor.quote_name(self._table(app_label, from_state))
        if self.readable_when:
            schema_editor.execute(f"DROP POLICY IF EXISTS readable_rows ON {table}")
        schema_editor.execute(f"DROP POLICY IF EXISTS tenant_rows ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self):
        return f"Row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"rls_{self.model_name.lower()}"


# Tables whose rows the app may add and read but never change or remove: a log that the code it
# records could rewrite would prove nothing. setup_database grants the app role every table and
# then takes these rights back, on every start, so a later grant cannot restore them.
APPEND_ONLY_TABLES = ("portal_auditentry",)


def keep_append_only(connection, role):
    """Revoke UPDATE, DELETE and TRUNCATE on the append-only tables from ``role`` (a name),
    through ``connection`` (psycopg's own, which quotes identifiers)."""
    from psycopg import sql

    exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    for table in APPEND_ONLY_TABLES if exists else ():
        connection.execute(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), sql.Identifier(role))
        )
