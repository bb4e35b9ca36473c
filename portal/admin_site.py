"""The admin, scoped to the tenant the signed-in user is working in.

Observatory admins manage their own sites and telescopes here without being Django
staff: the site admits a tenant admin of the active tenant (or a superuser), and every
tenant model admin lists and saves rows of that tenant only. Edits of the models the audit
log follows (``portal.audit.KINDS``) are recorded there, field by field.
"""

from django.contrib import admin
from django.db import transaction

from . import audit
from .permissions import may


class TenantAdminSite(admin.AdminSite):
    site_header = "Arrayscope administration"
    site_title = "Arrayscope admin"
    index_title = "Observatory administration"

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or may(getattr(request, "tenant_role", None), "admin.site")

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = f"{tenant.name} — administration"
        return context


class TenantScoped:
    """Permissions and foreign-key choices shared by tenant model admins and their inlines."""

    def _tenant_admin(self, request):
        return getattr(request, "tenant", None) is not None and admin.site.has_permission(request)

    def has_module_permission(self, request):
        return self._tenant_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._tenant_admin(request)

    def has_add_permission(self, request, obj=None):
        return self._tenant_admin(request)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if any(field.name == "tenant" for field in related._meta.fields):
            kwargs["queryset"] = related._default_manager.filter(tenant=request.tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantModelAdmin(TenantScoped, admin.ModelAdmin):
    """Admin for a ``TenantOwned`` model: the active tenant's rows, saved into that tenant."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(tenant=request.tenant)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.tenant = request.tenant
        before = audit.stored(obj)
        super().save_model(request, obj, form, change)
        audit.record_edit(obj, before, audit.origin(request))

    def delete_model(self, request, obj):
        audit.record_edit(obj, None, audit.origin(request), deleted=True)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        """The list's "delete selected": one entry per row, in the transaction of the delete
        (the admin's own delete views have one; its bulk action has none)."""
        for obj in queryset:
            audit.record_edit(obj, None, audit.origin(request), deleted=True)
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        origin = audit.origin(request)
        for inline_obj in formset.save(commit=False):
            before = audit.stored(inline_obj)
            inline_obj.tenant = request.tenant
            inline_obj.save()
            audit.record_edit(inline_obj, before, origin)
        for deleted in formset.deleted_objects:
            audit.record_edit(deleted, None, origin, deleted=True)
            deleted.delete()
        formset.save_m2m()


class TenantInline(TenantScoped, admin.TabularInline):
    extra = 0
