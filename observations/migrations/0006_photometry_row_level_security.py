from django.db import migrations

from portal.rls import TenantRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("observations", "0005_cutouts_photometry")]

    operations = [TenantRowLevelSecurity("photometry")]
