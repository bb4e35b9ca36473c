from django.contrib import admin

from .admin_site import TenantInline, TenantModelAdmin
from .models import ApiKey, AuditEntry, Filter, HeaderRule, Instrument, Site, Telescope, Tenant
from .permissions import may


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Tenants are created by the portal's superusers only."""

    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


class TelescopeInline(TenantInline):
    model = Telescope
    fields = ["code", "name", "aperture_m", "field_of_view_arcmin", "pixel_scale_arcsec", "active"]


class HeaderRuleInline(TenantInline):
    model = HeaderRule
    fields = ["keyword", "pattern", "read_from", "telescope", "instrument", "filter_name", "time_format"]
    verbose_name_plural = "Header rules (how this site's FITS headers name its equipment)"


@admin.register(Site)
class SiteAdmin(TenantModelAdmin):
    list_display = ["name", "code", "latitude_deg", "longitude_deg", "height_m", "time_zone", "horizon_limit_deg"]
    search_fields = ["name", "code"]
    inlines = [TelescopeInline, HeaderRuleInline]


@admin.register(HeaderRule)
class HeaderRuleAdmin(TenantModelAdmin):
    list_display = ["site", "keyword", "pattern", "maps_to"]
    list_filter = ["site", "keyword"]
    search_fields = ["pattern", "filter_name"]


class InstrumentInline(TenantInline):
    model = Instrument
    fields = ["code", "name", "kind", "detector_width_px", "detector_height_px"]


@admin.register(Telescope)
class TelescopeAdmin(TenantModelAdmin):
    list_display = ["name", "code", "site", "aperture_m", "field_of_view_arcmin", "pixel_scale_arcsec", "active"]
    list_filter = ["site", "active"]
    inlines = [InstrumentInline]


class FilterInline(TenantInline):
    model = Filter
    fields = ["name", "system", "central_wavelength_nm", "bandwidth_nm"]


@admin.register(Instrument)
class InstrumentAdmin(TenantModelAdmin):
    list_display = ["name", "code", "telescope", "kind"]
    list_filter = ["kind", "telescope__site"]
    inlines = [FilterInline]


@admin.register(Filter)
class FilterAdmin(TenantModelAdmin):
    list_display = ["name", "instrument", "system", "central_wavelength_nm", "bandwidth_nm"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantModelAdmin):
    """Keys are issued on the API keys page, where the secret is shown once; here they are only listed."""

    list_display = ["name", "prefix", "scope", "rate", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = [
        "name",
        "prefix",
        "scope",
        "app_scopes",
        "rate",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantModelAdmin):
    """The audit log, as on its page: read only, here as in the database."""

    list_display = ["at", "actor_name", "action", "subject_label", "via", "address"]
    list_filter = ["action", "via"]
    search_fields = ["actor_name", "subject_label"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEntry._meta.fields if field.name != "tenant"]

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and may(getattr(request, "tenant_role", None), "audit.view")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
