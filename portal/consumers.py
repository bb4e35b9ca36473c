"""Websockets: a job's progress, for the signed-in members of its tenant."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import tenancy
from .models import Job, Tenant
from .permissions import may, role_of
from .progress import job_group

UNAUTHORISED = 4403


@database_sync_to_async
def _job_state(user, slug, job_id):
    """The job's current state if ``user`` may watch it, else None."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None or not may(role_of(user, tenant), "tenant.read"):
        return None
    with tenancy.tenant_context(tenant, user):
        job = Job.objects.filter(pk=job_id).first()
        return job.as_message() if job else None


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    """Sends the job's state on connect, then every progress report until the job ends.

    Sending the state first means a page that connects late (or reconnects) never shows
    stale progress.
    """

    async def connect(self):
        user = self.scope["user"]
        kwargs = self.scope["url_route"]["kwargs"]
        state = await _job_state(user, kwargs["tenant_slug"], kwargs["job_id"]) if user.is_authenticated else None
        if state is None:
            await self.close(code=UNAUTHORISED)
            return
        self.group = job_group(kwargs["job_id"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(state)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_progress(self, event):
        await self.send_json(event["state"])
