from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Arrayscope portal"
    # The part of the API this app serves, as a key's scopes name it (portal.api_auth.api_part).
    api_part = "Facilities: sites, telescopes, instruments, filters"

    def ready(self):
        from . import api_schema, tasks, tenancy  # noqa: F401  (the schema's auth extension; beat's tasks; the connection_created handler)


class ArrayscopeAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "portal.admin_site.TenantAdminSite"
