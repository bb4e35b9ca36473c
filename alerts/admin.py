from django.contrib import admin

from portal.admin_site import TenantModelAdmin

from .models import Alert, AlertStream, DeadLetter


class ReadOnly:
    """Alerts and dead letters are written by ingest only; admins read them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnly, TenantModelAdmin):
    list_display = ["id", "alert_object", "candidate_id", "band", "magnitude", "observed_at", "source", "received_at"]
    list_filter = ["source", "band"]
    search_fields = ["alert_object__object_id", "candidate_id"]
    exclude = ["science_stamp", "template_stamp", "difference_stamp"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnly, TenantModelAdmin):
    """Packets the ingest could not store, newest first, with the reason: what to tell the
    broker, or the sign of a broken stream."""

    list_display = ["received_at", "source", "origin", "candidate_id", "reason"]
    list_filter = ["source", "origin"]
    search_fields = ["reason", "origin"]


@admin.register(AlertStream)
class AlertStreamAdmin(TenantModelAdmin):
    """Where alerts come from; ``consume_alerts`` runs the enabled ones."""

    list_display = ["name", "kind", "topic", "folder", "enabled", "received", "last_received_at", "last_error"]
    list_filter = ["kind", "enabled"]
    readonly_fields = ["received", "replayed_count", "last_received_at", "last_error", "last_error_at", "created_at"]
