"""The scheduling app's Celery entry points: tonight's plan, every few minutes and on events."""

from django.conf import settings

from portal.celery import TenantTask, app, send
from portal.models import Telescope, Tenant

from . import nightly


@app.task(base=TenantTask, runs_on="default")
def plan_tenant_night(tenant_id, trigger="periodic"):
    """Plan the tenant's coming night; an event's re-plan gets the short time limit, since the
    telescopes wait for it. A run already under way for the tenant makes this one a no-op."""
    limit = settings.SCHEDULING_TIME_LIMIT_S if trigger == "periodic" else settings.SCHEDULING_REPLAN_TIME_LIMIT_S
    nightly.plan_night(Tenant.objects.get(pk=tenant_id), trigger=trigger, time_limit_s=limit)


@app.task(runs_on="default")
def plan_every_night():
    """Beat's sweep (settings.CELERY_BEAT_SCHEDULE): one plan per tenant with telescopes."""
    for tenant_id in Telescope.objects.filter(active=True).values_list("tenant_id", flat=True).distinct():
        send("scheduling.tasks.plan_tenant_night", tenant_id)
