"""The policies read the tenant, user and API-key prefix through ``arrayscope_context()``,
which trusts them only when signed (see ``portal.rls``); policies made before this read the
bare settings, which the app role could set to any tenant itself."""

from django.db import migrations

from portal.rls import CURRENT_KEY_PREFIX, CURRENT_TENANT, CURRENT_USER, create_signed_context


def sign_policies(apps, schema_editor):
    create_signed_context(schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = 'tenant_rows'")
        tables = [row[0] for row in cursor.fetchall()]
    for table in tables:
        schema_editor.execute(
            f"ALTER POLICY tenant_rows ON {schema_editor.quote_name(table)} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
    schema_editor.execute(f"ALTER POLICY readable_rows ON portal_membership USING (user_id = {CURRENT_USER})")
    schema_editor.execute(f"ALTER POLICY readable_rows ON portal_apikey USING (prefix = {CURRENT_KEY_PREFIX})")


class Migration(migrations.Migration):
    dependencies = [("portal", "0006_header_rule_time_and_read_from")]

    operations = [migrations.RunPython(sign_policies, migrations.RunPython.noop)]
