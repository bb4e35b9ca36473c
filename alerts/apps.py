from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    api_part = "Alerts, alert filters and follow-ups"

    def ready(self):
        from . import tasks  # noqa: F401  (registers the app's Celery tasks, which services queue by name)
