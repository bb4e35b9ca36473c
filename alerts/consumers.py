"""The alert feed over a websocket: ``ws/t/<slug>/alerts/?after=<id>&filter=<id>``.

Members connect with their session (the dashboard); partners with an API key, as the
``Authorization: Api-Key …`` header or ``?key=`` where their client cannot set headers.
Without ``filter`` the feed is every alert of the observatory; with one of the user's filters
it is that filter's matches. ``after`` is the last alert id the client saw: everything
published since is sent first, then ``{"type": "caught_up"}``, then alerts as they come,
and ``{"type": "scores"}`` with new answers for alerts already sent (a newly promoted model
classified them).
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal import tenancy, throttling
from portal.api_auth import KEYWORDS, KeyRefused, guarded_key
from portal.models import Tenant
from portal.models.tenancy import ApiKeyScope
from portal.permissions import may, role_of

from .feed import backlog, filter_group, tenant_group
from .models import AlertFilter

UNAUTHORISED = 4403
BAD_REQUEST = 4400
TOO_MANY_WRONG_KEYS = 4429


@database_sync_to_async
def _access(scope, slug, query):
    """(tenant, user, the chosen filter or None, the user's filter ids), or a close code."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return UNAUTHORISED
    user = scope["user"]
    if not user.is_authenticated:
        user = _key_user(scope, query, tenant)
        if user == TOO_MANY_WRONG_KEYS:
            return user
    if user is None or not may(role_of(user, tenant), "tenant.read"):
        return UNAUTHORISED
    with tenancy.tenant_context(tenant, user):
        own = set(AlertFilter.objects.filter(tenant=tenant, user=user).values_list("pk", flat=True))
        chosen = query.get("filter")
        if chosen is None:
            return tenant, user, None, own
        if not chosen.isdigit() or int(chosen) not in own:
            return BAD_REQUEST
        return tenant, user, AlertFilter.objects.get(pk=int(chosen)), own


def _key_user(scope, query, tenant):
    """The user behind an API key of ``tenant`` that may read alerts, given in the header or the query, None, or
    TOO_MANY_WRONG_KEYS: wrong keys count against the address as they do on the REST API, so
    secrets cannot be guessed here instead."""
    headers = dict(scope.get("headers", []))
    words = headers.get(b"authorization", b"").decode("latin-1").split()
    plain = words[1] if len(words) == 2 and words[0] in KEYWORDS else query.get("key", "")
    if not plain:
        return None
    try:
        key = guarded_key(plain, (scope.get("client") or ["unknown"])[0])
    except throttling.Limited:
        return TOO_MANY_WRONG_KEYS
    except KeyRefused:
        return None
    if key.tenant_id != tenant.pk or key.scope_for("alerts") == ApiKeyScope.NONE:  # the feed is the alerts API's
        return None
    return key.created_by


@database_sync_to_async
def _backlog(tenant, user, after, alert_filter):
    with tenancy.tenant_context(tenant, user):
        return backlog(tenant, after=after, alert_filter=alert_filter)


class AlertFeedConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        query = {name: values[-1] for name, values in parse_qs(self.scope["query_string"].decode()).items()}
        after = query.get("after", "0")
        access = await _access(self.scope, self.scope["url_route"]["kwargs"]["tenant_slug"], query)
        if isinstance(access, int) or not after.isdigit():
            await self.close(code=access if isinstance(access, int) else BAD_REQUEST)
            return
        tenant, user, alert_filter, self.own_filters = access
        # Join first, then send the backlog: an alert published in between arrives both ways
        # and is sent once (``sent``), never missed.
        self.group = filter_group(alert_filter.pk) if alert_filter else tenant_group(tenant.pk)
        self.sent = set()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for alert in await _backlog(tenant, user, int(after), alert_filter):
            await self._send_alert(alert)
        await self.send_json({"type": "caught_up", "last_id": max(self.sent, default=int(after))})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def alert_batch(self, event):
        for alert in event["alerts"]:
            await self._send_alert(alert)

    async def alert_scores(self, event):
        await self.send_json({"type": "scores", "alerts": event["alerts"]})

    async def _send_alert(self, alert):
        if alert["id"] in self.sent:
            return
        self.sent.add(alert["id"])
        mine = [match for match in alert["filters"] if match["id"] in self.own_filters]
        await self.send_json({"type": "alert", "alert": {**alert, "filters": mine}})
