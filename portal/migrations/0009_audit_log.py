import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from portal.rls import TenantRowLevelSecurity, keep_append_only


def revoke_changes(apps, schema_editor):
    """The app role never updates or deletes an audit entry, from the moment the table exists
    (setup_database revokes again after each of its grants)."""
    app_role = settings.DATABASES["default"]["USER"]
    if schema_editor.connection.settings_dict["USER"] != app_role:
        schema_editor.connection.ensure_connection()
        keep_append_only(schema_editor.connection.connection, app_role)


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0008_job_recovery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("actor_name", models.CharField(blank=True, max_length=150)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("member.added", "Member added"),
                            ("member.role_changed", "Member's role changed"),
                            ("member.removed", "Member removed"),
                            ("api_key.issued", "API key issued"),
                            ("api_key.revoked", "API key revoked"),
                            ("api_key.deleted", "API key deleted"),
                            ("model.created", "Model created"),
                            ("model.changed", "Model changed"),
                            ("model.deleted", "Model deleted"),
                            ("model.promoted", "Model version promoted"),
                            ("model.archived", "Model version archived"),
                            ("site.created", "Site created"),
                            ("site.changed", "Site changed"),
                            ("site.deleted", "Site deleted"),
                            ("telescope.created", "Telescope created"),
                            ("telescope.changed", "Telescope changed"),
                            ("telescope.deleted", "Telescope deleted"),
                            ("instrument.created", "Instrument created"),
                            ("instrument.changed", "Instrument changed"),
                            ("instrument.deleted", "Instrument deleted"),
                            ("filter.created", "Filter created"),
                            ("filter.changed", "Filter changed"),
                            ("filter.deleted", "Filter deleted"),
                            ("header_rule.created", "Header rule created"),
                            ("header_rule.changed", "Header rule changed"),
                            ("header_rule.deleted", "Header rule deleted"),
                            ("alert_stream.created", "Alert stream created"),
                            ("alert_stream.changed", "Alert stream changed"),
                            ("alert_stream.deleted", "Alert stream deleted"),
                        ],
                        max_length=40,
                    ),
                ),
                (
                    "subject_type",
                    models.CharField(help_text="What kind of thing changed: site, member, api_key …", max_length=40),
                ),
                ("subject_id", models.CharField(blank=True, max_length=40)),
                ("subject_label", models.CharField(blank=True, max_length=200)),
                (
                    "details",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='{"changes": [[field, before, after], …]} and any other facts.',
                    ),
                ),
                (
                    "via",
                    models.CharField(
                        choices=[
                            ("page", "Page"),
                            ("api", "API"),
                            ("admin", "Admin"),
                            ("command", "Command"),
                            ("task", "Worker task"),
                            ("system", "Code or shell"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "address",
                    models.GenericIPAddressField(
                        blank=True, help_text="The client's address, when there was one.", null=True
                    ),
                ),
                (
                    "api_key_prefix",
                    models.CharField(blank=True, help_text="The key an API change came with.", max_length=8),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text="Who made the change; empty for commands and tasks that act on nobody's behalf.",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        editable=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="portal.tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
                "ordering": ["-at", "-id"],
                "indexes": [
                    models.Index(fields=["tenant", "-at", "-id"], name="audit_newest_first"),
                    models.Index(fields=["tenant", "actor", "-at"], name="audit_by_actor"),
                ],
            },
        ),
        TenantRowLevelSecurity("auditentry"),
        # The app role may not delete entries, so the tenant's foreign key cascades in the
        # database: PostgreSQL runs a cascade as the table's owner, past the revoked right and
        # the row policy, so deleting a tenant still takes its log with it.
        migrations.RunSQL(
            "ALTER TABLE portal_auditentry ADD CONSTRAINT portal_auditentry_tenant_cascades "
            "FOREIGN KEY (tenant_id) REFERENCES portal_tenant (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
            "ALTER TABLE portal_auditentry DROP CONSTRAINT portal_auditentry_tenant_cascades",
        ),
        migrations.RunPython(revoke_changes, migrations.RunPython.noop),
    ]
