from django.apps import AppConfig


class ObservationsConfig(AppConfig):
    name = "observations"

    def ready(self):
        from . import tasks  # noqa: F401  (registers the app's Celery tasks, which services queue by name)
