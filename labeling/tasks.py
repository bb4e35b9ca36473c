"""The labeling app's Celery entry points."""

from portal.celery import TenantTask, app, send
from portal.models import Tenant
from portal.tenancy import tenant_context

from . import demo, services
from .models import Project


@app.task(base=TenantTask, runs_on="default")
def simulate_demo_volunteers(tenant_id, project_id):
    """The demo project's simulated volunteers vote in the background: drawing every galaxy
    again to know its true answers takes longer than a first start should wait. Running it
    twice counts nothing twice (each volunteer classifies a galaxy once)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        demo.simulate_volunteers(project)


@app.task(base=TenantTask, runs_on="default")
def aggregate_project(tenant_id, project_id):
    """Vote counts, skill-weighted consensus and volunteers' skills for a whole project."""
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        services.aggregate(project)


@app.task(runs_on="default")
def aggregate_new_votes():
    """Beat's sweep (settings.CELERY_BEAT_SCHEDULE): every project with votes its last
    aggregation has not counted is aggregated again, one task each."""
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            for project in services.projects_to_aggregate(tenant):
                send("labeling.tasks.aggregate_project", tenant.pk, project.pk)
