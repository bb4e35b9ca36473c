from django.db import migrations

from portal.rls import TenantRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("observations", "0003_frames")]

    operations = [TenantRowLevelSecurity("frame"), TenantRowLevelSecurity("frametarget")]
