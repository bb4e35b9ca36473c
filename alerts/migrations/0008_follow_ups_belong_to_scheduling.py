"""Follow-up requests move to the scheduling app, which owns them and their states; alerts
keep which alert and which filter's rule asked (AlertFollowUp). Every request is copied
with its id, so links to it stay valid."""

import django.db.models.deletion
from django.db import migrations, models

from portal.rls import TenantRowLevelSecurity

COPY = """
INSERT INTO scheduling_followuprequest (id, tenant_id, target_id, requested_by_id, priority, status, note, created_at)
SELECT id, tenant_id, target_id, requested_by_id, priority, status, note, created_at FROM alerts_followuprequest;
INSERT INTO alerts_alertfollowup (tenant_id, request_id, alert_id, rule_id)
SELECT tenant_id, id, alert_id, rule_id FROM alerts_followuprequest;
SELECT setval(pg_get_serial_sequence('scheduling_followuprequest', 'id'),
              (SELECT coalesce(max(id), 0) + 1 FROM scheduling_followuprequest), false);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0007_stream_kinds_by_setting"),
        ("portal", "0009_audit_log"),
        ("scheduling", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertFollowUp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("alert", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL,
                                            related_name="follow_ups", to="alerts.alert")),
                ("request", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                                 related_name="from_alert", to="scheduling.followuprequest")),
                ("rule", models.ForeignKey(blank=True, help_text="The filter whose rule asked for it.", null=True,
                                           on_delete=django.db.models.deletion.SET_NULL, related_name="follow_ups",
                                           to="alerts.alertfilter")),
                ("tenant", models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE,
                                             related_name="+", to="portal.tenant")),
            ],
            options={"abstract": False},
        ),
        TenantRowLevelSecurity("alertfollowup"),
        migrations.RunSQL(COPY, reverse_sql=migrations.RunSQL.noop),
        migrations.DeleteModel(name="FollowUpRequest"),
    ]  # fmt: skip
