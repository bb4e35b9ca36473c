from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"

    def ready(self):
        from . import tasks  # noqa: F401  (the app's Celery tasks, known to every process by name)
