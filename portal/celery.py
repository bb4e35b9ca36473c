"""The Celery app, and the base class that runs every tenant task inside its tenant."""

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("arrayscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TenantTask(Task):
    """A task whose first argument is a tenant id; it runs with that tenant active.

    Row-level security then scopes every query of the task exactly as it scopes a
    request, so a task cannot read or write another tenant's rows.
    """

    acks_late = True
    autoretry_for = (ConnectionError, TimeoutError)
    retry_backoff = True
    max_retries = 5

    def __call__(self, tenant_id, *args, **kwargs):
        from .models import Tenant
        from .tenancy import tenant_context

        with tenant_context(Tenant.objects.get(pk=tenant_id)):
            return self.run(tenant_id, *args, **kwargs)


def route_to_declared_queue(name, args, kwargs, options, task=None, **extra):
    """Each task declares the queue it runs on, beside its code (``@app.task(runs_on="gpu")``):
    ``gpu`` for inference someone waits for, ``gpu-batch`` for training and backfills,
    ``default`` for the light rest. Celery 6 drops the task attribute ``queue``, so the
    declaration is read here, as the router the ``task_routes`` setting names."""
    declared = getattr(task or app.tasks.get(name), "runs_on", None)
    return {"queue": declared} if declared else None


def send(task_name, *args, **kwargs):
    """Queue the task named ``task_name`` (its dotted path) on the queue it declares. A
    service names the task it queues rather than importing it: a tasks module imports the
    services it runs, so the reverse would be a circle. Every app's ``ready()`` imports its
    tasks module, so each process knows every task by name."""
    return app.tasks[task_name].apply_async(args, kwargs)
