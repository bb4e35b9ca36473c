from django.apps import AppConfig


class ObservationsConfig(AppConfig):
    name = "observations"
    api_part = "Targets, frames, cutouts and cone searches"

    def ready(self):
        from . import tasks  # noqa: F401  (registers the app's Celery tasks, which services queue by name)
