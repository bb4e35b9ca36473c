"""Websockets: a project's live counter, for anyone who may classify in it (anonymous
volunteers included, on a public project)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal import tenancy

from . import counters, services

NOT_OPEN = 4404


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
    """Sends the project's counters on connect, then as classifications are counted (the latest,
    a few times a second): ``{"counts": {"classifications": …, "retired": …, …}}``."""

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
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def project_progress(self, event):
        await self.send_json({"counts": event["counts"]})
