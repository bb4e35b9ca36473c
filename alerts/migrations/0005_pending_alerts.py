import django.db.models.deletion
from django.db import migrations, models

from portal.rls import TenantRowLevelSecurity


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0004_unpublished_index'),
        ('portal', '0005_job_subject'),
    ]

    operations = [
        migrations.CreateModel(
            name='PendingAlert',
            fields=[
                ('alert', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='pending', serialize=False, to='alerts.alert')),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='portal.tenant')),
            ],
            options={
                'abstract': False,
            },
        ),
        TenantRowLevelSecurity('PendingAlert'),
        migrations.RunSQL(
            "INSERT INTO alerts_pendingalert (alert_id, tenant_id) SELECT id, tenant_id FROM alerts_alert WHERE published_at IS NULL",
            "UPDATE alerts_alert SET published_at = now() WHERE id NOT IN (SELECT alert_id FROM alerts_pendingalert)",
        ),
        migrations.RemoveIndex(
            model_name='alert',
            name='alert_unpublished',
        ),
        migrations.RemoveField(
            model_name='alert',
            name='published_at',
        ),
    ]
