"""Websockets: a project's live counter, for anyone who may classify in it (anonymous
volunteers included, on a public project)."""

import asyncio
import math

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal import tenancy

from . import counters, services

NOT_OPEN = 4404
SEND_EVERY_S = 0.5


@database_sync_to_async
def _progress(user, tenant_slug, project_slug):
    """(group, progress now) if this visitor may classify in the project, else None."""
    user = user if user.is_authenticated else None
    project = services.project_open_to(user, tenant_slug, project_slug)
    if project is None:
        return None
    with tenancy.tenant_context(project.tenant, user):
        return services.progress_group(project), counters.progress(project)


class ProjectProgressConsumer(AsyncJsonWebsocketConsumer):
    """Sends the project's counters on connect, then after classifications: ``{"counts": …}``
    each time, the latest at most every ``SEND_EVERY_S`` (a busy project counts hundreds a
    second; a page needs a couple), and always the last."""

    sent_at = -math.inf
    sending = None  # the task that sends the latest counters when their turn comes
    latest = None

    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        found = await _progress(self.scope["user"], kwargs["tenant_slug"], kwargs["project_slug"])
        if found is None:
            await self.close(code=NOT_OPEN)
            return
        self.group, progress = found
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"counts": progress})

    async def disconnect(self, code):
        if self.sending is not None:
            self.sending.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def project_progress(self, event):
        self.latest = event["counts"]
        if self.sending is None:
            self.sending = asyncio.ensure_future(self._send_latest())

    async def _send_latest(self):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self.sent_at + SEND_EVERY_S - loop.time()))
        counts, self.latest, self.sending, self.sent_at = self.latest, None, None, loop.time()
        await self.send_json({"counts": counts})
