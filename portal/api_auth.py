"""API authentication: a key decides the tenant of an API request, and its owner's current
role in that tenant what the request may do. Without a key, a signed-in browser's session
stands in for one (the browsable API, the docs' "Try it out"), acting as its user."""

import functools
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from . import tenancy, throttling
from .models import ApiKey, Membership, Tenant
from .models.tenancy import ApiKeyScope
from .permissions import may, role_of, roles_for
from .sql import server_cursor

KEYWORDS = ("Api-Key", "Bearer")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyRefused(ValueError):
    """A presented key that does not admit anyone; the message says why."""


def active_key(plain, *, activate=False):
    """The active ApiKey whose plain text ``plain`` is, or KeyRefused: one check for the API
    and the websocket feeds. With ``activate``, the key's tenant (as its owner) is made active
    first and left so, as a request that goes on in it wants: its owner's role is then read
    in the scope the connection already holds, two round trips fewer than in one of its own."""
    parts = plain.split("_", 2)
    if len(parts) != 3 or parts[0] != "ask" or len(parts[1]) != ApiKey.PREFIX_LENGTH:
        raise KeyRefused("This is not an Arrayscope API key (they start with 'ask_').")
    key = _find_key(parts[1])
    if key is None or not key.matches(plain):
        raise KeyRefused("Unknown API key.")
    if not key.is_active:
        raise KeyRefused("This API key has been revoked.")
    if activate:
        tenancy.activate(key.tenant, key.created_by)
    key.owner_role = role_of(key.created_by, key.tenant)
    if key.owner_role is None:
        raise KeyRefused(
            f"This API key's owner, {key.created_by}, is no longer a member of {key.tenant}; "
            "the key stopped working with the membership. Ask a tenant admin for a key of your own."
        )
    return key


def _find_key(prefix):
    """Look up a key, with its tenant and its owner, by its public prefix before any tenant is
    active.

    The api-key table's policy lets exactly the row whose prefix is in
    ``app.api_key_prefix`` be read, so the lookup needs no bypass of row-level security.
    Every API call starts here: one prepared statement, where compiling the ORM's join cost
    the web process more than PostgreSQL spent answering it."""
    sql, layout = _key_sql()
    with tenancy.api_key_visible(prefix), server_cursor() as cursor:
        row = cursor.execute(sql, [prefix], prepare=True).fetchone()
    if row is None:
        return None
    parts, start = [], 0
    for model, fields, converters in layout:
        values = [convert(value) for convert, value in zip(converters, row[start : start + len(fields)])]
        parts.append(model.from_db(connection.alias, fields, values))
        start += len(fields)
    key, key.tenant, key.created_by = parts
    return key


@functools.cache
def _key_sql():
    """The statement ``_find_key`` runs, and the (model, field names, each field's conversion
    from what the driver returns, as the ORM's: JSON comes as text) its row holds in turn."""
    models = [ApiKey, Tenant, get_user_model()]
    row = [(model, [field.attname for field in model._meta.concrete_fields],
            [_from_db(field) for field in model._meta.concrete_fields]) for model in models]  # fmt: skip
    columns = ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}"
                        for alias, model in zip("ktu", models) for field in model._meta.concrete_fields)  # fmt: skip
    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    sql = (f"SELECT {columns} FROM {tables[0]} k JOIN {tables[1]} t ON t.id = k.tenant_id "
           f"JOIN {tables[2]} u ON u.id = k.created_by_id WHERE k.prefix = %s")  # fmt: skip
    return sql, row


def _from_db(field):
    if hasattr(field, "from_db_value"):
        return lambda value: field.from_db_value(value, None, connection)
    return lambda value: value


def _note_use(key):
    """Record when a key was last used, to the minute (as admins read it): a partner streaming
    alerts calls many times a second, and a write a call would cost each call a commit."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)  # of concurrent calls, only the first writes


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key ask_<prefix>_<secret>`` (``Bearer`` is accepted too)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Api-Key <key>'.")
        address = throttling.client_address(request)
        try:
            key = guarded_key(header[1], address, activate=True)
        except throttling.Limited as limited:
            raise exceptions.Throttled(wait=limited.retry_after) from limited
        except KeyRefused as refusal:
            tenancy.deactivate()
            raise exceptions.AuthenticationFailed(str(refusal)) from refusal
        _note_use(key)
        request.tenant = key.tenant
        return key.created_by, key

    def authenticate_header(self, request):
        return 'Api-Key realm="api"'


@dataclass
class SessionGrant:
    """What a signed-in browser may do through the API: what its user's role may do in the
    observatory its pages are working in. It stands where a key stands (``request.auth``), so
    permissions, rate limits and the audit log treat both alike; the user's role decides
    writes, as on the pages."""

    tenant: Tenant
    created_by: object
    owner_role: str
    name = "your signed-in session"
    scope = ApiKeyScope.WRITE
    app_scopes = {}
    rate = ""
    prefix = ""

    def scope_for(self, app_label):
        return ApiKeyScope.WRITE

    @property
    def pk(self):
        """Who the rate limits count: the user, whichever of their sessions calls."""
        return f"session-{self.created_by.pk}"


class SessionAuthentication(authentication.SessionAuthentication):
    """A signed-in user's browser session, for the browsable API and the API docs' "Try it
    out": it acts in the observatory whose pages the user last opened (or their only one).
    Changes need the CSRF token, as forms do, so another site cannot make them. A request
    with a key is the key's: this is only asked when no key came."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if user is None or not user.is_active:
            return None
        self.enforce_csrf(request)
        tenant = _session_tenant(request._request, user)
        role = role_of(user, tenant) if tenant is not None else None
        if role is None:
            raise exceptions.AuthenticationFailed(
                "Signed in, but working in no observatory: open one of your observatories' pages "
                "(/t/<observatory>/) first, and the API acts in it, or send an API key."
            )
        tenancy.activate(tenant, user)
        request.tenant = tenant
        return user, SessionGrant(tenant, user, role)


def _session_tenant(request, user):
    """The observatory the session is working in: the last one whose pages it opened, or the
    user's only one."""
    slug = request.session.get(tenancy.SESSION_KEY)
    if slug:
        return Tenant.objects.filter(slug=slug).first()
    with tenancy.tenant_context(None, user):
        memberships = list(Membership.objects.filter(user=user).select_related("tenant")[:2])
    return memberships[0].tenant if len(memberships) == 1 else None


class AnonymousCalls(authentication.BaseAuthentication):
    """Last of the authentications: a call that brought neither a key nor a session counts
    against its address's anonymous rate before the permission check refuses it."""

    def authenticate(self, request):
        _within(throttling.spend, "api-anonymous", throttling.client_address(request), settings.API_RATE_ANONYMOUS)
        return None


def guarded_key(plain, address, *, activate=False):
    """The active key ``plain`` names, with guessing bounded wherever keys are taken (the API,
    websockets): an address that has sent too many wrong keys is refused before its next key
    is even checked (throttling.Limited), so the right one cannot be found by trying, and
    each wrong one counts against it (KeyRefused)."""
    throttling.check("api-key-failures", address, settings.API_KEY_FAILURES_PER_ADDRESS)
    try:
        return active_key(plain, activate=activate)
    except KeyRefused:
        throttling.charge("api-key-failures", address, settings.API_KEY_FAILURES_PER_ADDRESS, 1)
        raise


def _within(count, scope, ident, rate):
    try:
        count(scope, ident, rate)
    except throttling.Limited as limited:
        raise exceptions.Throttled(wait=limited.retry_after) from limited


class ActsAsKeyOwner(permissions.BasePermission):
    """A key may do what its owner's current role may do on the pages, and writes only if it
    is a read-write key.

    Each view names its actions: ``permission_action`` for changes (a string) and, for its
    extra routes, ``permission_actions`` by DRF action name. Reading needs ``tenant.read``.
    A change a view names no action for is refused: a new endpoint is closed until it says who
    may use it.
    """

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, (ApiKey, SessionGrant)):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # a method this endpoint does not answer: its 405 says so, for every role
        action = permission_action(request, view)
        if action is None or not may(key.owner_role, action):
            allowed = f"Only {roles_for(action)} may do this" if action else "This endpoint changes nothing"
            raise exceptions.PermissionDenied(
                f"{allowed}; this key acts as its owner, {key.created_by}, "
                f"now a {key.owner_role.label.lower()} of {key.tenant}."
            )
        reading = request.method in permissions.SAFE_METHODS
        part = api_part(view)
        if key.scope_for(part).rank < (ApiKeyScope.READ if reading else ApiKeyScope.WRITE).rank:
            raise exceptions.PermissionDenied(_out_of_scope(key, part, reading))
        if reading:
            return True
        if not may(key.owner_role, "api.write"):
            raise exceptions.PermissionDenied(
                f"This key acts as its owner, {key.created_by}, now a {key.owner_role.label.lower()} of {key.tenant}, "
                f"and {key.owner_role.label.lower()}s' keys only read."
            )
        return True


@functools.cache
def api_parts():
    """{app label: what its part of the API holds}, the parts a key's scopes name: each app that
    serves endpoints says so on its AppConfig (``api_part``), so a new app's endpoints are
    scoped without touching this one."""
    return {config.label: config.api_part for config in apps.get_app_configs() if getattr(config, "api_part", None)}


def api_part(view):
    """The app label of the part of the API ``view`` serves: the app its module belongs to,
    unless the view names its part (``api_part = None``: every key may read it)."""
    label = getattr(view, "api_part", type(view).__module__.split(".")[0])
    return label if label in api_parts() else None


def _out_of_scope(key, part, reading):
    where = f"{api_parts()[part].split(':')[0].lower()} ({part})" if part else "this endpoint"
    if key.scope_for(part) == ApiKeyScope.NONE:
        said = f"This API key has no access to {where}"
    else:
        said = f"This API key is read-only in {where}"
    wanted = "read" if reading else "write"
    return f"{said}; its scopes: {scopes_summary(key)}. Ask your tenant admin for a key that may {wanted} there."


def scopes_summary(key):
    """A key's scopes in one line: 'read and write in alerts, no access in scheduling, read only
    elsewhere'."""
    default = ApiKeyScope(key.scope)
    named = [f"{ApiKeyScope(scope).label.lower()} in {part}" for part, scope in sorted(key.app_scopes.items())
             if scope != default]  # fmt: skip
    return ", ".join([*named, f"{default.label.lower()} {'elsewhere' if named else 'everywhere'}"])


def permission_action(request, view):
    """The named action (see portal.permissions) that ``request`` to ``view`` performs, or None."""
    named = getattr(view, "permission_actions", {}).get(getattr(view, "action", None))
    if named is not None:
        return named
    if request.method in permissions.SAFE_METHODS:
        return "tenant.read"
    return getattr(view, "permission_action", None)
