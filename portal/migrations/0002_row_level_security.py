from django.db import migrations

from portal.rls import CURRENT_USER, TenantRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        TenantRowLevelSecurity("site"),
        TenantRowLevelSecurity("telescope"),
        TenantRowLevelSecurity("instrument"),
        TenantRowLevelSecurity("filter"),
        TenantRowLevelSecurity("job"),
        # A user sees their own memberships in every tenant (for the tenant switcher).
        TenantRowLevelSecurity("membership", readable_when=f"user_id = {CURRENT_USER}"),
        # Authentication reads the one key whose public prefix was presented, before any tenant is known.
        TenantRowLevelSecurity(
            "apikey", readable_when="prefix = NULLIF(current_setting('app.api_key_prefix', true), '')"
        ),
    ]
