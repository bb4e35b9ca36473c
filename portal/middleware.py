"""Which tenant a page request works in, and the guarantee that it ends with none."""

import re

from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from . import tenancy
from .api_errors import bad_request
from .models import Membership, Role, Tenant
from .parameters import ParameterInvalid, refuse_nul_bytes

TENANT_PATH = re.compile(r"^/t/(?P<slug>[-a-zA-Z0-9_]+)/")


def membership_for(user, tenant):
    """The user's membership in ``tenant``, or None; superusers act as admins everywhere."""
    if not user.is_authenticated:
        return None
    with tenancy.tenant_context(tenant, user):
        return Membership.objects.filter(tenant=tenant, user=user).first()


class TenantMiddleware:
    """Resolve ``/t/<slug>/`` (and the admin's active tenant) and scope the database to it.

    A slug that does not exist and a tenant the user is not a member of both answer 404,
    so nobody can probe which tenants exist. Every request ends with the database scope
    cleared, whatever the view did.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.tenant_role = None
        try:
            match = TENANT_PATH.match(request.path_info)
            if match:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                self._enter(request, match["slug"], strict=True)
                request.session[tenancy.SESSION_KEY] = request.tenant.slug
            elif request.path_info.startswith("/admin/") and request.session.get(tenancy.SESSION_KEY):
                self._enter(request, request.session[tenancy.SESSION_KEY], strict=False)
            else:
                tenancy.activate(None, request.user if request.user.is_authenticated else None)
            return self.get_response(request)
        finally:
            tenancy.deactivate()

    def _enter(self, request, slug, strict):
        tenant = Tenant.objects.filter(slug=slug).first()
        membership = membership_for(request.user, tenant) if tenant else None
        if membership is None and not (tenant and request.user.is_superuser):
            if strict:
                raise Http404("No such observatory, or you are not one of its members.")
            tenancy.activate(None, request.user)
            return
        request.tenant = tenant
        request.tenant_role = membership.role if membership else Role.ADMIN
        tenancy.activate(tenant, request.user)


class QueryParameterMiddleware:
    """Refuse a query string holding a NUL byte before any view reads it: PostgreSQL text
    cannot hold one, so a search for it failed in the database (a 500). The refusal is a 400
    naming the parameter (problem+json on the API, a page elsewhere; see handler400)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            refuse_nul_bytes(request.GET)
        except ParameterInvalid as refusal:  # answered here: raised, Django logs a refusal with a traceback
            return bad_request(request, refusal)
        return self.get_response(request)
