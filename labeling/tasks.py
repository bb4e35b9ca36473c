"""The labeling app's Celery entry points."""

from portal.celery import TenantTask, app

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
