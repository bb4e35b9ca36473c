from django.contrib import admin

from portal.admin_site import TenantModelAdmin

from .models import MLModel, ModelVersion


@admin.register(MLModel)
class MLModelAdmin(TenantModelAdmin):
    list_display = ["name", "task", "architecture", "visibility", "created_at"]
    list_filter = ["task", "visibility"]


@admin.register(ModelVersion)
class ModelVersionAdmin(TenantModelAdmin):
    """Versions are made by training or import and moved between stages by the registry's
    pages, which archive the previous production version; here they are only listed."""

    list_display = ["model", "number", "stage", "sha256", "created_at"]
    list_filter = ["stage", "model"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields if field.name != "tenant"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
