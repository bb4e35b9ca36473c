"""The scheduling app's Celery entry points: tonight's plan, every few minutes and on events."""

from django.conf import settings

from portal.celery import TenantTask, app, send
from portal.models import Telescope, Tenant

from . import nightly, services

RETRY_AFTER_S = 2


@app.task(base=TenantTask, runs_on="default")
def plan_tenant_night(tenant_id, trigger="periodic"):
    """Plan the tenant's coming night; an event's re-plan gets the short time limit, since the
    telescopes wait for it. With a run already under way for the tenant, a periodic plan does
    nothing and an event's re-plan asks again a moment later (that run may have read the
    rows before the event)."""
    if trigger == "periodic":
        nightly.plan_night(Tenant.objects.get(pk=tenant_id), time_limit_s=settings.SCHEDULING_TIME_LIMIT_S)
        return
    services.replan_starting(tenant_id)
    planned = nightly.plan_night(Tenant.objects.get(pk=tenant_id), trigger=trigger,
                                 time_limit_s=settings.SCHEDULING_REPLAN_TIME_LIMIT_S)  # fmt: skip
    if planned is None:
        services.ask_for_replan(tenant_id, trigger, countdown=RETRY_AFTER_S)


@app.task(runs_on="default")
def plan_every_night():
    """Beat's sweep (settings.CELERY_BEAT_SCHEDULE): one plan per tenant with telescopes."""
    for tenant_id in Telescope.objects.filter(active=True).values_list("tenant_id", flat=True).distinct():
        send("scheduling.tasks.plan_tenant_night", tenant_id)
