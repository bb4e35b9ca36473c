from django.db import migrations

from portal.rls import TenantRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("observations", "0001_initial")]

    operations = [
        # Public targets are readable by every tenant; only the owner tenant may change them.
        TenantRowLevelSecurity("target", readable_when="visibility = 'public'"),
    ]
