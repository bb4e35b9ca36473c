"""Row-level security for tenant tables, as a migration operation.

Every table of a ``TenantOwned`` model gets a policy that shows and accepts only rows of
the tenant in ``app.tenant_id`` (see ``portal.tenancy``). The app's database role owns no
table, so the policy binds it even when a query forgets its tenant filter. ``readable_when``
adds an SQL condition under which other rows may be *read* (never written): public data,
a user's own memberships, the one API key being checked.
"""

from django.db.migrations.operations.base import Operation

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::bigint"
CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::bigint"


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
