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
