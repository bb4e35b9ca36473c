"""Portal pages: choosing a tenant, its home, members, API keys, the audit log, jobs and /healthz."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import api_usage, audit, services
from .api_auth import scopes_summary
from .forms import AddMemberForm, ApiKeyForm, ApiKeyRateForm, AuditFilterForm, ChangeRoleForm, SignInForm
from .health import portal_health
from .models import ApiKey, AuditEntry, Job, Membership, Role, Site, Tenant
from .permissions import may, require
from .plots import api_key_usage, sites_world_map


@login_required
def choose_tenant(request):
    """Send a member of one tenant straight there; let a member of several choose."""
    memberships = list(Membership.objects.filter(user=request.user).select_related("tenant"))
    if len(memberships) == 1:
        return redirect("tenant_home", tenant_slug=memberships[0].tenant.slug)
    tenants = [m.tenant for m in memberships] or (list(Tenant.objects.all()) if request.user.is_superuser else [])
    return render(request, "portal/choose_tenant.html", {"tenants": tenants})


def tenant_home(request, tenant_slug):
    sites = list(Site.objects.filter(tenant=request.tenant).prefetch_related("telescopes__instruments__filters"))
    return render(
        request,
        "portal/tenant_home.html",
        {
            "sites": sites,
            "sites_map": sites_world_map(sites),
            "recent_jobs": Job.objects.filter(tenant=request.tenant)[:5],
        },
    )


def job_detail(request, tenant_slug, job_id):
    job = get_object_or_404(Job, tenant=request.tenant, pk=job_id)
    return render(request, "portal/job_detail.html", {"job": job})


def api_keys(request, tenant_slug):
    """List the tenant's keys with their use (calls and errors a day, for the last fortnight);
    issue a new one, whose secret is shown on this page only once."""
    require(request, "api_keys.manage")
    may_write = may(request.tenant_role, "api_keys.issue_write")
    form = ApiKeyForm(request.POST or None, may_write=may_write)
    new_key = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        key, new_key = services.issue_api_key(request.tenant, request.user, name=data["name"], scope=data["scope"],
                                              app_scopes=data["app_scopes"], origin=audit.origin(request))  # fmt: skip
        form = ApiKeyForm(may_write=may_write)
    keys = list(_visible_keys(request).select_related("created_by"))
    usage = api_usage.daily_usage(key.pk for key in keys)
    for key in keys:
        key.usage = {field: sum(usage[key.pk][field]) for field in api_usage.FIELDS}
        key.calls_today = usage[key.pk]["calls"][-1]
        key.scopes = scopes_summary(key)
    return render(request, "portal/api_keys.html", {
        "form": form, "keys": keys, "new_key": new_key, "usage_figure": api_key_usage(keys, usage),
        "any_use": any(key.usage["calls"] for key in keys), "rate_form": ApiKeyRateForm(),
        "may_limit": may(request.tenant_role, "api_keys.limit"), "portal_rate": settings.API_RATE_PER_KEY,
    })  # fmt: skip


def _visible_keys(request):
    keys = ApiKey.objects.filter(tenant=request.tenant)
    if not may(request.tenant_role, "api_keys.see_all"):
        keys = keys.filter(created_by=request.user)
    return keys


@require_POST
def limit_api_key(request, tenant_slug, key_id):
    """A tenant admin sets a key's own rate limit (or lifts it), under the portal's own."""
    require(request, "api_keys.limit")
    key = get_object_or_404(ApiKey.objects.filter(tenant=request.tenant).select_related("created_by"), pk=key_id)
    form = ApiKeyRateForm(request.POST)
    if form.is_valid():
        services.limit_api_key(key, form.cleaned_data["rate"], audit.origin(request))
        rate = form.cleaned_data["rate"]
        limit = f"is now limited to {rate}" if rate else f"has only the portal's limit, {settings.API_RATE_PER_KEY}"
        messages.success(request, f"{key} {limit}.")
    else:
        messages.error(request, f"{key}: {' '.join(form.errors['rate'])}")
    return redirect("api_keys", tenant_slug=tenant_slug)


@require_POST
def revoke_api_key(request, tenant_slug, key_id):
    key = get_object_or_404(_visible_keys(request), pk=key_id, revoked_at__isnull=True)
    services.revoke_api_key(key, audit.origin(request))
    messages.success(request, f"Revoked {key}. Clients using it now get 401.")
    return redirect("api_keys", tenant_slug=tenant_slug)


def members(request, tenant_slug):
    """The tenant's members; admins add people (new users get a temporary password, shown once)."""
    require(request, "members.manage")
    form = AddMemberForm(request.POST or None)
    added = None
    if request.method == "POST" and form.is_valid():
        try:
            origin = audit.origin(request)
            membership, password = services.add_member(request.tenant, **form.cleaned_data, origin=origin)
        except ValidationError as error:
            form.add_error("username", error)
        else:
            added = {"membership": membership, "password": password}
            form = AddMemberForm()
    memberships = Membership.objects.filter(tenant=request.tenant).select_related("user").order_by("user__username")
    return render(
        request,
        "portal/members.html",
        {"form": form, "memberships": memberships, "added": added, "roles": Role.choices},
    )


@require_POST
def change_member(request, tenant_slug, membership_id):
    require(request, "members.manage")
    membership = get_object_or_404(Membership, tenant=request.tenant, pk=membership_id)
    try:
        if request.POST.get("action") == "remove":
            services.remove_member(membership, audit.origin(request))
            messages.success(request, f"Removed {membership.user} from {request.tenant}.")
        else:
            form = ChangeRoleForm(request.POST)
            if not form.is_valid():
                raise ValidationError("Choose one of the listed roles.")
            services.change_role(membership, form.cleaned_data["role"], audit.origin(request))
            messages.success(request, f"{membership.user} is now {membership.get_role_display().lower()}.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("members", tenant_slug=tenant_slug)


def audit_log(request, tenant_slug):
    """Who changed members, keys, models and equipment, newest first; filtered by kind of
    change, person and UTC dates."""
    require(request, "audit.view")
    form = AuditFilterForm(request.GET, actors=audit.actors(request.tenant))
    found = audit.entries(request.tenant, **form.cleaned_data) if form.is_valid() else AuditEntry.objects.none()
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/audit_log.html", {"form": form, "page": page, "query": query.urlencode()})


@never_cache
def healthz(request):
    """200 when Postgres (with pgvector), Redis and a worker on every queue answer; 503 naming what does not."""
    report = portal_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)


class SignInView(auth_views.LoginView):
    """Sign-in that answers 429 with Retry-After while an account or address is shut out."""

    form_class = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled_for:
            response.status_code = 429
            response["Retry-After"] = str(form.throttled_for)
        return response
