"""Websockets: the night's plan, for the signed-in members of its tenant. A message says only
that the plan or a queue changed; the page then asks for the chart again (one small request,
and a page that reconnects late never keeps a stale chart)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.models import Tenant
from portal.permissions import may, role_of

from .services import night_group

UNAUTHORISED = 4403


@database_sync_to_async
def _watched(user, slug):
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None or not may(role_of(user, tenant), "tenant.read"):
        return None
    return night_group(tenant.pk)


class NightConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope["user"]
        group = (
            await _watched(user, self.scope["url_route"]["kwargs"]["tenant_slug"]) if user.is_authenticated else None
        )
        if group is None:
            await self.close(code=UNAUTHORISED)
            return
        self.group = group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"changed": True})  # whatever changed while the page loaded

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def night_changed(self, event):
        await self.send_json({"changed": True})
