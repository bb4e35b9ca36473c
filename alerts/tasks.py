from portal.celery import TenantTask, app

from . import services, webhooks
from .models import WebhookDelivery


@app.task(base=TenantTask, bind=True, max_retries=None)
def deliver_webhook(self, tenant_id, delivery_id):
    """One attempt at a webhook delivery, and the next one scheduled while attempts remain."""
    delivery = WebhookDelivery.objects.select_related("alert_filter").get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.PENDING:
        return  # redelivered after it was settled
    wait = webhooks.attempt(delivery)
    if wait is not None:
        raise self.retry(countdown=wait)


@app.task
def queue_forgotten_runs():
    """Beat's sweep (settings.CELERY_BEAT_SCHEDULE): alerts left waiting for a classifier run go out."""
    services.queue_forgotten_runs()
